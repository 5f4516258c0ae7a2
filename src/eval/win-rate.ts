// Win rate of a model's answers over an opponent's, judged by a reward model on the same prompts: a win counts 1, a
// tie ½ (as AlpacaEval and MT-Bench's pairwise judge count them), with the counts and both sides' mean rewards.
import type { Prompt } from '../data/preference.ts';
import { answerExample } from '../data/preference-tokenize.ts';
import { tokenizeExample, type TokenizedExample } from '../data/tokenize.ts';
import type { LoadedModel } from '../model/load.ts';
import { IGNORE_INDEX } from '../tensor/ops/loss.ts';
import { scoreExamples } from './reward.ts';

export type Outcome = 'win' | 'tie' | 'loss';

export interface WinRate {
  /** (wins + ties / 2) / n. */
  score: number;
  n: number;
  wins: number;
  ties: number;
  losses: number;
  /** Mean reward of the model's answers, and of the opponent's. */
  reward: number;
  base_reward: number;
  outcomes: Outcome[];
}

/** Prompt by prompt, the model's reward against the opponent's (the same length, in prompt order). */
export function winRate(model: ArrayLike<number>, base: ArrayLike<number>): WinRate {
  if (model.length !== base.length) throw new Error(`winRate: ${model.length} rewards against ${base.length}`);
  const outcomes: Outcome[] = Array.from({ length: model.length }, (_, i) => (model[i]! > base[i]! ? 'win' : model[i]! < base[i]! ? 'loss' : 'tie'));
  const count = (o: Outcome): number => outcomes.filter((x) => x === o).length;
  const [wins, ties, losses] = [count('win'), count('tie'), count('loss')];
  const n = outcomes.length;
  const mean = (xs: ArrayLike<number>): number => Array.from(xs).reduce((a, v) => a + v, 0) / n;
  return { score: (wins + ties / 2) / n, n, wins, ties, losses, reward: mean(model), base_reward: mean(base), outcomes };
}

export interface Judged {
  rewards: Float32Array;
  /** Answer tokens scored per answer (its end token included, the prompt not). */
  tokens: Int32Array;
  /** Answers cut by the reward model's context (scored at the last token that fit). */
  truncated: number;
}

/**
 * The reward model's reward for each answer to its prompt (prompts[i] with answers[i]), tokenised as the reward
 * model was trained (the prompt and answer together, through its own chat template). Each distinct (prompt, answer)
 * is scored once, so two sides giving the same answer tie exactly rather than by float noise of different paddings.
 */
export function judgeAnswers(judge: LoadedModel, prompts: readonly Prompt[], answers: readonly string[], opts: { maxLength: number; batchRows: number; onProgress?: (done: number, total: number) => void }): Judged {
  const rows: TokenizedExample[] = [];
  const rowOf = new Map<string, number>();
  const index = answers.map((answer, i) => {
    const key = JSON.stringify([prompts[i], answer]);
    let r = rowOf.get(key);
    if (r === undefined) rowOf.set(key, (r = rows.push(tokenizeExample(answerExample(prompts[i]!, answer), judge.tokenizer, { maxLength: opts.maxLength })) - 1));
    return r;
  });
  const padId = judge.tokenizer.padId ?? judge.tokenizer.eosId ?? 0;
  const scored = scoreExamples(judge.model, rows, padId, opts.batchRows, (d) => opts.onProgress?.(d, rows.length));
  const answerTokens = rows.map((t) => t.labels.reduce((a, l) => a + (l === IGNORE_INDEX ? 0 : 1), 0));
  return {
    rewards: Float32Array.from(index, (r) => scored[r]!),
    tokens: Int32Array.from(index, (r) => answerTokens[r]!),
    truncated: index.filter((r) => rows[r]!.truncated > 0).length,
  };
}
