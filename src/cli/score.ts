// `whet score`: a reward model's score for every row of a file: both answers of each preference pair (with the
// pairwise accuracy), each thumbs up/down answer, or each prompt/response example. Rows on stdout (JSONL with --json).
import type { FrozenDType } from '../model/frozen-weights.ts';
import { readFileSync } from 'node:fs';
import { WhetError } from '../errors.ts';
import { isPreferenceFile, readPreferenceData } from '../data/preference.ts';
import { tokenizeFeedback, tokenizePair } from '../data/preference-tokenize.ts';
import { readDataset } from '../data/read.ts';
import { tokenizeExample, type TokenizedExample } from '../data/tokenize.ts';
import { modelContext } from '../model/context.ts';
import { loadRewardModel, scoreExamples } from '../eval/reward.ts';
import { parseCommand } from './options.ts';
import { scoreSpec } from './specs.ts';

interface ScoredRow {
  where: string;
  reward?: number;
  label?: boolean;
  chosen?: number;
  rejected?: number;
  error?: string;
}

export async function scoreCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(scoreSpec, argv);
  if (parsed === null) return 0;
  const v = parsed.values as { model: string; adapter?: string; data: string; 'chat-template'?: string; 'max-length'?: number; 'batch-size': number; dtype: 'f32' | FrozenDType; json: boolean };
  const { model, tokenizer, config } = loadRewardModel(v.model, v.adapter, v.dtype);
  const opts = { template: v['chat-template'] === undefined ? undefined : readFileSync(v['chat-template'], 'utf8'), maxLength: v['max-length'] ?? modelContext(config) };
  const padId = tokenizer.padId ?? tokenizer.eosId ?? 0;

  // Every answer to score, and how each output row reads its rewards back.
  const answers: TokenizedExample[] = [];
  const rows: ScoredRow[] = [];
  const fill: (() => void)[] = [];
  let rewards: Float32Array = new Float32Array(0);
  const add = (e: TokenizedExample): number => answers.push(e) - 1;
  const attempt = (where: string, f: () => void): void => {
    try {
      f();
    } catch (e) {
      rows.push({ where, error: (e as Error).message });
    }
  };
  if (isPreferenceFile(v.data)) {
    const d = readPreferenceData(v.data);
    if (d.errorCount > 0) throw new WhetError(`${v.data}: ${d.errorCount} invalid rows, e.g.\n  ${d.errors.slice(0, 5).join('\n  ')}`);
    d.pairs.forEach((p, i) => attempt(d.pairSources[i]!, () => {
      const t = tokenizePair(p, tokenizer, opts);
      const [c, r] = [add(t.chosen), add(t.rejected)];
      const row: ScoredRow = { where: d.pairSources[i]! };
      rows.push(row);
      fill.push(() => Object.assign(row, { chosen: rewards[c]!, rejected: rewards[r]! }));
    }));
    d.feedback.forEach((f, i) => attempt(d.feedbackSources[i]!, () => {
      const k = add(tokenizeFeedback(f, tokenizer, opts).example);
      const row: ScoredRow = { where: d.feedbackSources[i]!, label: f.label };
      rows.push(row);
      fill.push(() => (row.reward = rewards[k]!));
    }));
  } else {
    const d = readDataset(v.data);
    if (d.errorCount > 0) throw new WhetError(`${v.data}: ${d.errorCount} invalid rows, e.g.\n  ${d.errors.slice(0, 5).join('\n  ')}`);
    d.examples.forEach((e, i) => {
      const k = add(tokenizeExample(e, tokenizer, opts));
      const row: ScoredRow = { where: d.sources[i]!.where };
      rows.push(row);
      fill.push(() => (row.reward = rewards[k]!));
    });
  }
  if (answers.length === 0) throw new WhetError(`${v.data}: nothing to score`);
  rewards = scoreExamples(model, answers, padId, v['batch-size']);
  for (const f of fill) f();
  model.dispose();

  const pairs = rows.filter((r) => r.chosen !== undefined);
  const accuracy = pairs.filter((r) => r.chosen! > r.rejected!).length / Math.max(pairs.length, 1);
  const fmt = (x: number): string => x.toFixed(4).padStart(9);
  for (const r of rows) {
    if (v.json) process.stdout.write(JSON.stringify(r) + '\n');
    else if (r.error !== undefined) process.stdout.write(`${r.where}  skipped: ${r.error}\n`);
    else if (r.chosen !== undefined) process.stdout.write(`${r.where}  chosen ${fmt(r.chosen)}  rejected ${fmt(r.rejected!)}  ${r.chosen > r.rejected! ? 'right' : 'wrong'}\n`);
    else process.stdout.write(`${r.where}  reward ${fmt(r.reward!)}${r.label === undefined ? '' : `  (${r.label ? 'thumbs up' : 'thumbs down'})`}\n`);
  }
  if (pairs.length > 0) process.stderr.write(`pairwise accuracy ${accuracy.toFixed(3)} on ${pairs.length} pairs\n`);
  return 0;
}
