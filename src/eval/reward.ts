// A reward model's scores: answers batched with each distinct answer scored once (a ranking's k answers make
// k(k-1)/2 pairs from k rows), the reward read at each row's last real token from the lengths (never by searching
// for a pad or EOS id), and a preference holdout's pairwise accuracy, margin and reward/length correlation.
import type { FrozenDType } from '../model/frozen-weights.ts';
import { WhetError } from '../errors.ts';
import type { LlamaModel } from '../model/llama.ts';
import { loadModel, type LoadedModel } from '../model/load.ts';
import { adapterTaskType, loadAdapter } from '../adapters/peft.ts';
import { withLoraEval } from '../adapters/apply.ts';
import { padBatch, type Batch } from '../data/batch.ts';
import type { TokenizedPair } from '../data/preference-tokenize.ts';
import type { TokenizedExample } from '../data/tokenize.ts';
import { noGrad } from '../tensor/grad-mode.ts';
import { embedding } from '../tensor/ops/layers.ts';
import { reshape } from '../tensor/ops/shape.ts';
import { Rng } from '../tensor/random.ts';
import { tidy, withSavedActivations, type Tensor } from '../tensor/tensor.ts';
import { rewardLoss } from '../train/preference-loss.ts';

export interface RewardBatch {
  /** The distinct answers (with their prompts), one row each. */
  rows: Batch;
  /** Index of each row's last real token. */
  last: Int32Array;
  /** Per pair, the rows of its chosen and rejected answers. */
  chosen: Int32Array;
  rejected: Int32Array;
  margins?: Float32Array;
}

/** Pairs as one batch of distinct answers. */
export function rewardBatch(pairs: readonly TokenizedPair[], padId: number): RewardBatch {
  const rows: TokenizedExample[] = [];
  const rowOf = new Map<string, number>();
  const row = (e: TokenizedExample): number => {
    const key = e.ids.join(',');
    let r = rowOf.get(key);
    if (r === undefined) rowOf.set(key, (r = rows.push(e) - 1));
    return r;
  };
  const chosen = Int32Array.from(pairs, (p) => row(p.chosen));
  const rejected = Int32Array.from(pairs, (p) => row(p.rejected));
  const margins = pairs.some((p) => p.margin !== undefined) ? Float32Array.from(pairs, (p) => p.margin ?? 0) : undefined;
  return { rows: padBatch(rows, padId), last: Int32Array.from(rows, (e) => e.ids.length - 1), chosen, rejected, ...(margins !== undefined ? { margins } : {}) };
}

/** The reward of every row of a batch (R). */
export function batchRewards(model: LlamaModel, b: RewardBatch, opts: { checkpoint?: boolean; rngs?: Rng[]; activations?: 'f32' | 'bf16' } = {}): Tensor {
  const forward = () => model.forward(b.rows.ids, b.rows.batch, { positions: b.rows.positions, checkpoint: opts.checkpoint, rngs: opts.rngs });
  const hidden = withSavedActivations(opts.activations ?? 'f32', forward); // (R, T, D)
  return model.rewards(hidden, b.last); // (R)
}

/** Entries idx of a vector (N) → (idx.length), with gradient. */
export function pick(v: Tensor, idx: Int32Array): Tensor {
  return reshape(embedding(reshape(v, [v.size, 1]), idx), [idx.length]);
}

export interface RewardHoldout {
  loss: number;
  /** Share of pairs whose chosen answer scores higher: right / pairs. */
  accuracy: number;
  margin: number;
  /** Pearson correlation of reward with answer length in tokens: how much the model rewards length. */
  length_correlation: number;
  pairs: number;
  /** Pairs whose chosen answer scores strictly higher. */
  right: number;
  /** Pairs whose two answers score exactly the same: not right (a model that cannot tell them apart). */
  ties: number;
  /** Mean answer length in tokens (answer and end token, no prompt): a reward model that learned length shows it here. */
  chosen_length: number;
  rejected_length: number;
}

/** Scores pairs without gradients (LoRA dropout off): loss, pairwise accuracy with its counts, mean margin, length correlation. */
export function evaluateRewardPairs(model: LlamaModel, pairs: readonly TokenizedPair[], padId: number, batchPairs = 16, onProgress?: (done: number) => void): RewardHoldout {
  let loss = 0;
  let right = 0;
  let ties = 0;
  let margin = 0;
  const rewards: number[] = [];
  const lengths: number[] = [];
  withLoraEval(model, () => noGrad(() => {
    for (let i = 0; i < pairs.length; i += batchPairs) {
      const chunk = pairs.slice(i, i + batchPairs);
      const b = rewardBatch(chunk, padId);
      tidy(() => {
        const r = batchRewards(model, b);
        const out = rewardLoss(pick(r, b.chosen), pick(r, b.rejected), { margin: b.margins });
        loss += out.loss.item() * chunk.length;
        margin += out.margin * chunk.length;
        const values = r.toArray();
        chunk.forEach((p, k) => {
          const [c, rej] = [values[b.chosen[k]!]!, values[b.rejected[k]!]!];
          // Counted here rather than from the loss's accuracy share, so that ties can be told from wrong answers.
          if (c > rej) right++;
          else if (c === rej) ties++;
          rewards.push(c, rej);
          lengths.push(p.chosen.ids.length - p.promptTokens, p.rejected.ids.length - p.promptTokens);
        });
      });
      onProgress?.(Math.min(i + batchPairs, pairs.length));
    }
  }));
  const n = Math.max(pairs.length, 1);
  const meanLength = (side: 0 | 1): number => lengths.filter((_, k) => k % 2 === side).reduce((a, v) => a + v, 0) / n;
  return {
    loss: loss / n, accuracy: right / n, margin: margin / n, length_correlation: pearson(rewards, lengths), pairs: pairs.length,
    right, ties, chosen_length: meanLength(0), rejected_length: meanLength(1),
  };
}

function pearson(x: number[], y: number[]): number {
  const n = x.length;
  if (n < 2) return 0;
  const mx = x.reduce((a, v) => a + v, 0) / n;
  const my = y.reduce((a, v) => a + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? 0 : sxy / Math.sqrt(sxx * syy);
}

/** Rewards of examples (each scored at its last token), without gradients, batchRows at a time. */
export function scoreExamples(model: LlamaModel, examples: readonly TokenizedExample[], padId: number, batchRows = 16, onProgress?: (done: number) => void): Float32Array {
  const out = new Float32Array(examples.length);
  withLoraEval(model, () => noGrad(() => {
    for (let i = 0; i < examples.length; i += batchRows) {
      const rows = examples.slice(i, i + batchRows);
      const b = { rows: padBatch(rows, padId), last: Int32Array.from(rows, (e) => e.ids.length - 1), chosen: new Int32Array(0), rejected: new Int32Array(0) };
      tidy(() => out.set(batchRewards(model, b).toArray(), i));
      onProgress?.(i + rows.length);
    }
  }));
  return out;
}

/**
 * A reward model ready to score: an HF …ForSequenceClassification folder, or a base model plus a reward model's
 * adapter (PEFT SEQ_CLS: LoRA weights and the score head).
 */
export function loadRewardModel(modelPath: string, adapterDir?: string, dtype: 'f32' | FrozenDType = 'f32'): LoadedModel {
  const loaded = loadModel(modelPath, { dtype });
  if (adapterDir !== undefined) {
    if (adapterTaskType(adapterDir) !== 'SEQ_CLS') throw new WhetError(`${adapterDir}: not a reward model's adapter (task_type SEQ_CLS with a score head); it was trained for generation`);
    loaded.model.attachScoreHead(new Rng(0));
    loadAdapter(adapterDir, loaded.model);
  }
  if (loaded.model.score === undefined) throw new WhetError(`${modelPath}: not a reward model (no score head: pass a folder written by 'whet train --method reward --finetuning full', or --adapter with a reward adapter)`);
  return loaded;
}
