// `whet eval --metric reward-accuracy | win-rate`: a reward model's pairwise accuracy on preference pairs, and the win
// rate of a model's greedy answers over an opponent's (its base, another model or adapter) as a reward model judges them.
import { existsSync, mkdirSync } from 'node:fs';
import { WhetError } from '../errors.ts';
import { setLoraEnabled } from '../adapters/apply.ts';
import { adapterTaskType } from '../adapters/peft.ts';
import { isPreferenceFile, readPreferenceData } from '../data/preference.ts';
import { tokenizePair, type TokenizedPair } from '../data/preference-tokenize.ts';
import { writeJsonlAtomic } from '../formats/atomic.ts';
import { parseModelRef, resolveModelPath } from '../hub/cache.ts';
import { modelContext } from '../model/context.ts';
import { evaluateRewardPairs, loadRewardModel } from '../eval/reward.ts';
import { promptExample, readPrompts } from '../eval/prompts.ts';
import { judgeAnswers, winRate } from '../eval/win-rate.ts';
import { writeReport, type SummaryRow } from '../eval/report.ts';
import type { EvalValues, Result } from './eval.ts';
import { generatePredictions, loadWithAdapter } from './eval-generate.ts';
import { UsageError } from './errors.ts';
import { Progress } from './progress.ts';

export async function rewardMetricCommand(v: EvalValues): Promise<number> {
  if (v.predictions !== undefined) throw new UsageError(`--metric ${v.metric} runs the models itself; --predictions does not apply`);
  if (v.forgetting !== undefined) throw new UsageError(`--forgetting does not apply to --metric ${v.metric}`);
  if (v.model === undefined) throw new UsageError(`--metric ${v.metric} needs --model`);
  const { result, rows, lines } = v.metric === 'reward-accuracy' ? rewardAccuracy(v) : winRateOf(v);
  if (v.report !== undefined) {
    mkdirSync(v.report, { recursive: true });
    const files = writeReport(v.report, { rows });
    lines.push(`report: ${files.markdown}, ${files.html}`);
  }
  process.stdout.write(v.json ? JSON.stringify(result) + '\n' : lines.join('\n') + '\n');
  return 0;
}

interface Outcome {
  result: Result;
  rows: SummaryRow[];
  /** What the human-readable output prints. */
  lines: string[];
}

const f4 = (x: number): string => x.toFixed(4);

/** Pairwise accuracy of the reward model (--model with its SEQ_CLS --adapter) on a preference file. */
function rewardAccuracy(v: EvalValues): Outcome {
  for (const o of ['base', 'base-adapter', 'reward-model', 'reward-adapter'] as const)
    if (v[o] !== undefined) throw new UsageError(`--${o} does not apply to --metric reward-accuracy (the reward model is --model, with --adapter)`);
  if (!isPreferenceFile(v.data)) throw new WhetError(`${v.data}: --metric reward-accuracy needs preference pairs ({prompt, chosen, rejected}, rankings, …)`);
  const d = readPreferenceData(v.data);
  invalidRows(v.data, d.errorCount, d.rows, d.errors);
  const pairs = v.limit === undefined ? d.pairs : d.pairs.slice(0, v.limit);
  if (pairs.length === 0) throw new WhetError(`${v.data}: no preference pairs to compare${d.feedback.length > 0 ? ' (thumbs up/down rows have no pair)' : ''}`);

  const loaded = loadRewardModel(v.model!, v.adapter, v.dtype);
  const tokenized: TokenizedPair[] = [];
  const skipped: string[] = [];
  let h: ReturnType<typeof evaluateRewardPairs>;
  try {
    const opts = { maxLength: modelContext(loaded.config) };
    pairs.forEach((p, i) => {
      try {
        tokenized.push(tokenizePair(p, loaded.tokenizer, opts));
      } catch (e) {
        skipped.push(`${d.pairSources[i]}: ${(e as Error).message}`);
      }
    });
    if (tokenized.length === 0) throw new WhetError(`${v.data}: no pair could be scored; the first (${skipped[0]})`);
    const bar = new Progress('eval reward-accuracy', tokenized.length, 'pairs');
    h = evaluateRewardPairs(loaded.model, tokenized, loaded.tokenizer.padId ?? loaded.tokenizer.eosId ?? 0, v['batch-size'], (n) => bar.update(n));
    bar.done();
  } finally {
    loaded.model.dispose();
  }
  const wrong = h.pairs - h.right;
  const result: Result = {
    metric: v.metric, score: h.accuracy, n: h.pairs, right: h.right, wrong, ties: h.ties, margin: h.margin, length_correlation: h.length_correlation,
    loss: h.loss, chosen_length: h.chosen_length, rejected_length: h.rejected_length, skipped: skipped.length, invalid_rows: d.errorCount,
  };
  const lines = [
    `reward pairwise accuracy: ${f4(h.accuracy)} over ${h.pairs} pairs  (${h.right} right, ${wrong} wrong, of which ${h.ties} ties: a tie counts as wrong)`,
    `mean margin ${f4(h.margin)} (chosen − rejected)  loss ${f4(h.loss)}  reward/length correlation ${h.length_correlation.toFixed(2)} (answers of ${h.chosen_length.toFixed(1)} chosen vs ${h.rejected_length.toFixed(1)} rejected tokens on average)`,
  ];
  if (skipped.length > 0) lines.push(`skipped ${skipped.length} pair${skipped.length === 1 ? '' : 's'} that could not be scored, the first: ${skipped[0]}`);
  const rows: SummaryRow[] = [
    { metric: 'reward pairwise accuracy', before: null, after: h.accuracy, better: 'higher' },
    { metric: 'reward margin (chosen − rejected)', before: null, after: h.margin, better: 'higher' },
    { metric: 'reward/length correlation', before: null, after: h.length_correlation },
  ];
  return { result, rows, lines };
}

/**
 * The model's (--model with --adapter) greedy answers against the opponent's on the same prompts, both judged by
 * --reward-model. The opponent is --base and/or --base-adapter when given, else --model without its --adapter.
 * One model is in memory at a time.
 */
function winRateOf(v: EvalValues): Outcome {
  if (v['reward-model'] === undefined) throw new UsageError('--metric win-rate needs --reward-model (with --reward-adapter when the judge is an adapter)');
  const separate = v.base !== undefined || v['base-adapter'] !== undefined;
  if (!separate && v.adapter === undefined)
    throw new UsageError('--metric win-rate compares two models: give --adapter (against --model without it), --base PATH or --base-adapter DIR');
  // The judge is loaded last (one model in memory at a time): what can be checked of it is checked before generating.
  if (!existsSync(v['reward-model']) && parseModelRef(v['reward-model']) === undefined) throw new WhetError(`${v['reward-model']}: no such reward model`);
  resolveModelPath(v['reward-model']); // a hub name that was never pulled fails here, before any generating
  for (const [flag, dir, want] of [['--reward-adapter', v['reward-adapter'], 'SEQ_CLS'], ['--adapter', v.adapter, 'CAUSAL_LM'], ['--base-adapter', v['base-adapter'], 'CAUSAL_LM']] as const)
    if (dir !== undefined && adapterTaskType(dir) !== want)
      throw new WhetError(`${dir}: ${want === 'SEQ_CLS' ? "not a reward model's adapter (task_type SEQ_CLS with a score head); it was trained for generation" : `a reward model's adapter, which generates nothing; ${flag} takes a generation adapter`}`);
  const set = readPrompts(v.data);
  invalidRows(v.data, set.errorCount, set.rows, set.errors);
  const items = v.limit === undefined ? set.items : set.items.slice(0, v.limit);
  const examples = items.map(promptExample);
  const gen = { maxTokens: v['max-tokens'], batchSize: v['batch-size'], stop: v.stop };

  let base: string[] | undefined;
  if (separate) {
    const other = loadWithAdapter(v.base ?? v.model!, v['base-adapter'], v.dtype);
    try {
      base = generatePredictions(other, examples, { ...gen, prefix: 'base: ' });
    } finally {
      other.model.dispose();
    }
  }
  const loaded = loadWithAdapter(v.model!, v.adapter, v.dtype);
  let answers: string[];
  try {
    answers = generatePredictions(loaded, examples, { ...gen, prefix: 'model: ' });
    if (base === undefined) {
      // The opponent is the same weights with the adapter off: no second copy of the base.
      setLoraEnabled(loaded.model, false);
      try {
        base = generatePredictions(loaded, examples, { ...gen, prefix: 'base: ' });
      } finally {
        setLoraEnabled(loaded.model, true);
      }
    }
  } finally {
    loaded.model.dispose();
  }

  const judge = loadRewardModel(v['reward-model'], v['reward-adapter'], v.dtype);
  let judged: ReturnType<typeof judgeAnswers>;
  try {
    const prompts = items.map((it) => it.prompt);
    let bar: Progress | undefined;
    judged = judgeAnswers(judge, [...prompts, ...prompts], [...answers, ...base], {
      maxLength: modelContext(judge.config),
      batchRows: v['batch-size'],
      onProgress: (done, total) => (bar ??= new Progress('judge', total, 'answers')).update(done),
    });
    bar?.done();
  } finally {
    judge.model.dispose();
  }
  const n = items.length;
  const [rewards, baseRewards] = [judged.rewards.subarray(0, n), judged.rewards.subarray(n)];
  const w = winRate(rewards, baseRewards);
  const meanTokens = (from: number): number => Array.from(judged.tokens.subarray(from, from + n)).reduce((a, t) => a + t, 0) / n;
  const [tokens, baseTokens] = [meanTokens(0), meanTokens(n)];
  const same = answers.filter((a, i) => a === base![i]).length;

  if (v['save-predictions'] !== undefined)
    writeJsonlAtomic(v['save-predictions'], items.map((it, i) => ({ where: it.where, prompt: it.prompt, prediction: answers[i], reward: rewards[i], base_prediction: base![i], base_reward: baseRewards[i], outcome: w.outcomes[i] })));
  const result: Result = {
    metric: v.metric, score: w.score, n, wins: w.wins, ties: w.ties, losses: w.losses, reward: w.reward, base_reward: w.base_reward,
    answer_tokens: tokens, base_answer_tokens: baseTokens, same_answers: same, truncated: judged.truncated, invalid_rows: set.errorCount,
  };
  const plural = (k: number, one: string, many: string): string => `${k} ${k === 1 ? one : many}`;
  const lines = [
    `win rate: ${f4(w.score)} over ${n} prompts  (${plural(w.wins, 'win', 'wins')}, ${plural(w.ties, 'tie', 'ties')}, ${plural(w.losses, 'loss', 'losses')}; a tie counts half)`,
    `mean reward ${f4(w.reward)} against the base's ${f4(w.base_reward)}  (answers of ${tokens.toFixed(1)} vs ${baseTokens.toFixed(1)} tokens on average; ${same} identical)`,
  ];
  if (judged.truncated > 0) lines.push(`${plural(judged.truncated, 'answer was', 'answers were')} cut to the reward model's context and judged on what fit`);
  const rows: SummaryRow[] = [
    { metric: 'win rate against the base (a tie counts half)', before: null, after: w.score, better: 'higher' },
    { metric: 'mean reward of the answers', before: w.base_reward, after: w.reward, better: 'higher' },
    { metric: 'mean answer tokens', before: baseTokens, after: tokens },
  ];
  return { result, rows, lines };
}

/** Invalid rows are left out as training leaves them out (a public holdout often has a few), said on stderr; none valid is an error. */
function invalidRows(path: string, count: number, rows: number, errors: readonly string[]): void {
  if (count === 0) return;
  const e = `e.g.\n  ${errors.slice(0, 5).join('\n  ')}`;
  if (count === rows) throw new WhetError(`${path}: no valid row, ${e}`);
  process.stderr.write(`warning: ${path}: ${count} of ${rows} rows left out as invalid, ${e}\n(run 'whet data validate ${path}' for the full list)\n`);
}
