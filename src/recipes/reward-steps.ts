// A reward model's training pieces for the shared trainer: batches of whole units (a pair, or every pair of one
// ranking, as InstructGPT trains), and the Bradley–Terry step loss with accuracy and margin.
import type { LlamaModel } from '../model/llama.ts';
import { DataIterator } from '../data/iterator.ts';
import type { TokenizedPair } from '../data/preference-tokenize.ts';
import type { Rng } from '../tensor/random.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { rewardLoss } from '../train/preference-loss.ts';
import { batchRewards, pick, rewardBatch, type RewardBatch } from '../eval/reward.ts';
import { groupUnits } from './preference-data.ts';

/** Training batches of batch_size units, a unit being a pair or all the pairs of one ranking. */
export function rewardBatchSource(pairs: readonly TokenizedPair[], opts: { batchSize: number; seed: number }, padId: number): DataIterator<TokenizedPair[], RewardBatch> {
  return new DataIterator(groupUnits(pairs), { batchSize: opts.batchSize, seed: opts.seed, collate: (us) => rewardBatch(us.flat(), padId) });
}

/** The reward model's step for the trainer: Bradley–Terry loss on a batch's pairs, with accuracy and mean margin. */
export function rewardStepLoss(model: LlamaModel, opts: { checkpoint: boolean; rngs: Rng[]; activations: 'f32' | 'bf16'; centerCoefficient: number }) {
  return (b: RewardBatch): { loss: Tensor; tokens: number; metrics: Record<string, number> } => {
    const r = batchRewards(model, b, opts); // (R)
    const { loss, accuracy, margin } = rewardLoss(pick(r, b.chosen), pick(r, b.rejected), { margin: b.margins, centerCoefficient: opts.centerCoefficient });
    return { loss, tokens: b.rows.ids.length, metrics: { accuracy, margin } };
  };
}

