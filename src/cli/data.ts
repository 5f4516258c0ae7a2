// `whet data inspect|validate|split`: look at a dataset (formats, duplicates, token lengths), check every row, or write a seeded train/holdout split;
// preference files (pairs, rankings, feedback) are inspected and validated by data-preference.ts.
import { existsSync, mkdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { WhetError } from '../errors.ts';
import { writeFileAtomic } from '../formats/atomic.ts';
import { readGguf } from '../formats/gguf.ts';
import { readDataset, splitExamples, type Dataset } from '../data/read.ts';
import { tokenStats, type Cut, type TokenStats } from '../data/stats.ts';
import { summaryTable } from './summary-table.ts';
import { modelContext } from '../model/context.ts';
import { isPreferenceFile, readPreferenceData } from '../data/preference.ts';
import { inspectPreferences, validatePreferences } from './data-preference.ts';
import { loadConfig } from '../model/load.ts';
import { resolveModelPath } from '../hub/cache.ts';
import { tokenizeExample, type TokenizedExample } from '../data/tokenize.ts';
import { tokenizerFromGguf } from '../tokenizer/gguf.ts';
import { tokenizerFromJson } from '../tokenizer/hf.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { parseCommand, subcommand, type CommandSpec } from './options.ts';
import { dataSpec } from './specs.ts';
import { UsageError } from './errors.ts';

// Only the tokenizer: a model folder's tokenizer files, or a GGUF's metadata (no weights are read).
function loadTokenizer(spec: string): Tokenizer {
  const path = resolveModelPath(spec);
  return statSync(path).isDirectory() ? tokenizerFromJson(path) : tokenizerFromGguf(readGguf(path).metadata);
}

// The model's context, when the path has a config (a tokenizer-only folder has none).
function contextOf(spec: string): number | undefined {
  const path = resolveModelPath(spec);
  return statSync(path).isDirectory() && !existsSync(join(path, 'config.json')) ? undefined : modelContext(loadConfig(path));
}

function readTemplate(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new WhetError(`cannot read chat template ${path}: ${(e as Error).message}`);
  }
}

/** Tokenises every example untruncated; failures are reported with the example's location. */
function tokenizeAll(data: Dataset, tokenizer: Tokenizer, template: string | undefined): { tokenized: TokenizedExample[]; errors: string[] } {
  const tokenized: TokenizedExample[] = [];
  const errors: string[] = [];
  data.examples.forEach((example, i) => {
    try {
      tokenized.push(tokenizeExample(example, tokenizer, { template }));
    } catch (e) {
      errors.push(`${data.sources[i]!.where}: ${(e as Error).message}`);
    }
  });
  return { tokenized, errors };
}

function formatCounts(data: Dataset): string {
  const used = Object.entries(data.formats).filter(([, n]) => n > 0);
  return used.length === 0 ? 'no valid rows' : used.map(([f, n]) => `${f} ${n}`).join(', ');
}

function summaryLine(name: string, data: Dataset): string {
  return `${name}: ${data.rows} rows, ${data.examples.length} examples (${formatCounts(data)}), ${data.duplicates} duplicates, ${data.blank} blank, ${data.errorCount} errors`;
}

function statsTable(s: TokenStats): string {
  const lines = summaryTable([['tokens', s.ids], ['loss tokens', s.loss]]);
  lines.push(`  total ${s.totalIds} tokens, ${s.totalLoss} with loss`);
  const pct = (a: number, b: number): string => (b === 0 ? '0' : ((100 * a) / b).toFixed(1));
  const cutLine = (what: string, t: Cut): string => `  ${what} ${t.maxLength}: cuts ${t.examples} examples (${pct(t.examples, s.examples)}%), ${t.tokens} tokens (${pct(t.tokens, s.totalIds)}%)`;
  if (s.truncation !== undefined) lines.push(cutLine('--max-len', s.truncation));
  if (s.context !== undefined) lines.push(cutLine("the model's context of", s.context));
  return lines.join('\n');
}

async function inspect(spec: CommandSpec, argv: string[]): Promise<number> {
  const parsed = parseCommand(spec, argv);
  if (parsed === null) return 0;
  const values = parsed.values as { model?: string; template?: string; 'max-len'?: number; json: boolean };
  const file = parsed.positionals[0]!;
  const maxLen = values['max-len'];
  if (isPreferenceFile(file))
    return inspectPreferences(file, { tokenizer: values.model === undefined ? undefined : loadTokenizer(values.model), template: readTemplate(values.template), maxLength: maxLen, json: values.json });
  const data = readDataset(file);
  const errors = [...data.errors];
  let stats: TokenStats | undefined;
  if (values.model !== undefined) {
    const { tokenized, errors: tokErrors } = tokenizeAll(data, loadTokenizer(values.model), readTemplate(values.template));
    errors.push(...tokErrors);
    stats = tokenStats(tokenized, maxLen, contextOf(values.model));
  }
  const errorCount = data.errorCount + errors.length - data.errors.length;
  if (values.json) {
    const out = {
      file,
      rows: data.rows,
      examples: data.examples.length,
      formats: Object.fromEntries(Object.entries(data.formats).filter(([, n]) => n > 0)),
      duplicates: data.duplicates,
      blank: data.blank,
      errorCount,
      errors,
      ...(stats !== undefined ? { tokens: stats } : {}),
    };
    process.stdout.write(JSON.stringify(out) + '\n');
  } else {
    process.stdout.write(summaryLine(basename(file), { ...data, errorCount }) + '\n');
    if (stats !== undefined) process.stdout.write(statsTable(stats) + '\n');
    for (const e of errors.slice(0, 10)) process.stdout.write(`${e}\n`);
    if (errors.length > 10) process.stdout.write(`(${errorCount - 10} more errors: run whet data validate)\n`);
  }
  return errorCount > 0 ? 1 : 0;
}

async function validate(spec: CommandSpec, argv: string[]): Promise<number> {
  const parsed = parseCommand(spec, argv);
  if (parsed === null) return 0;
  const values = parsed.values as { model?: string; template?: string };
  const file = parsed.positionals[0]!;
  if (isPreferenceFile(file)) return validatePreferences(file, { tokenizer: values.model === undefined ? undefined : loadTokenizer(values.model), template: readTemplate(values.template) });
  const data = readDataset(file, { maxErrors: 50 });
  const errors = [...data.errors];
  let errorCount = data.errorCount;
  if (values.model !== undefined) {
    const tokErrors = tokenizeAll(data, loadTokenizer(values.model), readTemplate(values.template)).errors;
    errorCount += tokErrors.length;
    errors.push(...tokErrors.slice(0, Math.max(0, 50 - errors.length)));
  }
  if (errorCount === 0 && data.examples.length > 0) {
    process.stdout.write(`${basename(file)}: ok: ${data.examples.length} examples (${formatCounts(data)}), ${data.duplicates} duplicates, ${data.blank} blank\n`);
    return 0;
  }
  for (const e of errors) process.stderr.write(`${e}\n`);
  if (errorCount > errors.length) process.stderr.write(`(${errorCount - errors.length} more)\n`);
  process.stderr.write(
    errorCount > 0 ? `${basename(file)}: ${errorCount} error${errorCount === 1 ? '' : 's'} in ${data.rows} rows\n` : `${basename(file)}: no examples\n`,
  );
  return 1;
}

async function split(spec: CommandSpec, argv: string[]): Promise<number> {
  const parsed = parseCommand(spec, argv);
  if (parsed === null) return 0;
  const { holdout: fraction, seed, 'out-dir': outDir } = parsed.values as { holdout: number; seed: number; 'out-dir': string };
  const file = parsed.positionals[0]!;
  if (fraction >= 1) throw new UsageError(`--holdout must be below 1, got ${fraction}`);
  const data = isPreferenceFile(file) ? readPreferenceData(file, { maxErrors: 10 }) : readDataset(file, { maxErrors: 10 });
  if (data.errorCount > 0) {
    for (const e of data.errors) process.stderr.write(`${e}\n`);
    throw new WhetError(`${data.errorCount} bad rows in ${file}: fix them first (whet data validate lists them)`);
  }
  // Preference rows split whole, so a ranking's pairs stay on one side.
  const { sources, duplicates } = 'distinctRows' in data ? { sources: data.distinctRows, duplicates: data.duplicates } : data;
  if (sources.length === 0) throw new WhetError(`${file}: no examples`);
  const { train, holdout } = splitExamples(sources, fraction, seed);
  try {
    mkdirSync(outDir, { recursive: true });
  } catch (e) {
    throw new WhetError(`cannot create ${outDir}: ${(e as Error).message}`);
  }
  const write = (name: string, rows: { row: unknown }[]): void =>
    writeFileAtomic(join(outDir, name), (fd) => {
      const buf = Buffer.from(rows.map((r) => JSON.stringify(r.row) + '\n').join(''), 'utf8');
      for (let at = 0; at < buf.length; ) at += writeSync(fd, buf, at);
    });
  write('train.jsonl', train);
  write('holdout.jsonl', holdout);
  process.stdout.write(`${basename(file)}: ${train.length} train, ${holdout.length} holdout (seed ${seed}; ${duplicates} duplicates dropped) → ${outDir}\n`);
  return 0;
}

const handlers: Record<string, (spec: CommandSpec, argv: string[]) => Promise<number>> = { 'data inspect': inspect, 'data validate': validate, 'data split': split };

export async function dataCommand(argv: string[]): Promise<number> {
  const chosen = subcommand(dataSpec, argv);
  return chosen === null ? 0 : handlers[chosen.spec.name]!(chosen.spec, chosen.argv);
}
