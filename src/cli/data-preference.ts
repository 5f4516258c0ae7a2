// `whet data validate|inspect` on preference data (pairs, rankings, thumbs up/down): rows checked and counted by
// format, and with --model each pair tokenised as training will see it, with the answers' lengths compared.
import { basename } from 'node:path';
import { readPreferenceData, type PreferenceData } from '../data/preference.ts';
import { tokenizeFeedback, tokenizePair, type TokenizedPair } from '../data/preference-tokenize.ts';
import { summarize, type Summary } from '../data/stats.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { summaryTable } from './summary-table.ts';

export interface PreferenceCheckOptions {
  tokenizer?: Tokenizer;
  template?: string;
  maxLength?: number;
}

interface Checked {
  data: PreferenceData;
  tokenized: TokenizedPair[];
  /** Row errors, then tokenisation problems, each `file:line: problem`. */
  errors: string[];
  errorCount: number;
}

function check(file: string, opts: PreferenceCheckOptions, maxErrors: number): Checked {
  const data = readPreferenceData(file, { maxErrors });
  const errors = [...data.errors];
  let errorCount = data.errorCount;
  const tokenized: TokenizedPair[] = [];
  const problem = (where: string, e: unknown): void => {
    errorCount++;
    if (errors.length < maxErrors) errors.push(`${where}: ${(e as Error).message}`);
  };
  if (opts.tokenizer !== undefined) {
    const tok = { template: opts.template, maxLength: opts.maxLength };
    data.pairs.forEach((pair, i) => {
      try {
        tokenized.push(tokenizePair(pair, opts.tokenizer!, tok));
      } catch (e) {
        problem(data.pairSources[i]!, e);
      }
    });
    data.feedback.forEach((f, i) => {
      try {
        tokenizeFeedback(f, opts.tokenizer!, tok);
      } catch (e) {
        problem(data.feedbackSources[i]!, e);
      }
    });
  }
  return { data, tokenized, errors, errorCount };
}

function counts(data: PreferenceData): string {
  const used = Object.entries(data.formats).filter(([, n]) => n > 0);
  return `${data.pairs.length} pairs, ${data.feedback.length} feedback (${used.length === 0 ? 'no valid rows' : used.map(([f, n]) => `${f} ${n}`).join(', ')})`;
}

export function validatePreferences(file: string, opts: PreferenceCheckOptions): number {
  const { data, errors, errorCount } = check(file, opts, 50);
  if (errorCount === 0 && data.pairs.length + data.feedback.length > 0) {
    process.stdout.write(`${basename(file)}: ok: ${counts(data)}\n`);
    return 0;
  }
  for (const e of errors) process.stderr.write(`${e}\n`);
  if (errorCount > errors.length) process.stderr.write(`(${errorCount - errors.length} more)\n`);
  process.stderr.write(errorCount > 0 ? `${basename(file)}: ${errorCount} error${errorCount === 1 ? '' : 's'} in ${data.rows} rows\n` : `${basename(file)}: no pairs or feedback\n`);
  return 1;
}

/** Token lengths of prompts and answers: reward models and DPO learn length, so chosen vs rejected is shown. */
interface PairStats {
  prompt: Summary;
  chosen: Summary;
  rejected: Summary;
  /** Share of pairs whose chosen answer has more tokens than the rejected one. */
  chosenLonger: number;
}

function pairStats(pairs: TokenizedPair[]): PairStats {
  const chosen = pairs.map((p) => p.chosen.ids.length - p.promptTokens);
  const rejected = pairs.map((p) => p.rejected.ids.length - p.promptTokens);
  return {
    prompt: summarize(pairs.map((p) => p.promptTokens)),
    chosen: summarize(chosen),
    rejected: summarize(rejected),
    chosenLonger: pairs.length === 0 ? 0 : chosen.filter((c, i) => c > rejected[i]!).length / pairs.length,
  };
}

export function inspectPreferences(file: string, opts: PreferenceCheckOptions & { json: boolean }): number {
  const { data, tokenized, errors, errorCount } = check(file, opts, 50);
  const stats = opts.tokenizer === undefined ? undefined : pairStats(tokenized);
  if (opts.json) {
    const formats = Object.fromEntries(Object.entries(data.formats).filter(([, n]) => n > 0));
    process.stdout.write(JSON.stringify({ file, rows: data.rows, pairs: data.pairs.length, feedback: data.feedback.length, formats, errorCount, errors, ...(stats !== undefined ? { tokens: stats } : {}) }) + '\n');
  } else {
    process.stdout.write(`${basename(file)}: ${data.rows} rows, ${counts(data)}, ${errorCount} errors\n`);
    if (stats !== undefined) {
      const table = summaryTable([['prompt tokens', stats.prompt], ['chosen tokens', stats.chosen], ['rejected tokens', stats.rejected]]);
      process.stdout.write(table.join('\n') + '\n');
      process.stdout.write(`  chosen longer than rejected in ${(100 * stats.chosenLonger).toFixed(1)}% of pairs (a reward model can learn length instead of quality)\n`);
    }
    for (const e of errors.slice(0, 10)) process.stdout.write(`${e}\n`);
  }
  return errorCount > 0 ? 1 : 0;
}
