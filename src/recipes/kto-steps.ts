// KTO's pieces for the shared trainer: batches of thumbs up/down answers (desirable rows first) with their
// mismatched twins (the same prompts with other answers, for the KL reference point), the reference's log-probs
// (a reference policy or cached), TRL's KTO loss with its metrics, and the holdout's loss and metrics.
import type { LlamaModel } from '../model/llama.ts';
import { withLoraEval } from '../adapters/apply.ts';
import { padBatch, type Batch } from '../data/batch.ts';
import { DataIterator } from '../data/iterator.ts';
import type { TokenizedFeedback } from '../data/preference-tokenize.ts';
import { noGrad } from '../tensor/grad-mode.ts';
import { tensor } from '../tensor/ops/create.ts';
import { narrow } from '../tensor/ops/shape.ts';
import { tidy, type Tensor } from '../tensor/tensor.ts';
import { ktoLoss, type KtoOptions } from '../train/preference-loss.ts';
import { answerLogps, holdoutMean, type ForwardSettings, type ReferencePolicy } from './dpo-steps.ts';

export interface FeedbackBatch {
  /** The answers, desirable ones first. */
  rows: Batch;
  desirable: number;
  /** Row by row, the same prompts with another example's answer. */
  mismatched: Batch;
  /** Cached reference log-probs: the rows, then the mismatched rows. */
  ref?: Float32Array;
}

/** Examples idx as a batch, desirable first; `ref` (2N: answers, then twins, by index) attaches cached reference log-probs. */
export function feedbackBatch(items: readonly TokenizedFeedback[], twins: readonly TokenizedFeedback[], idx: readonly number[], padId: number, ref?: Float32Array): FeedbackBatch {
  const order = [...idx.filter((i) => items[i]!.label), ...idx.filter((i) => !items[i]!.label)];
  const n = items.length;
  return {
    rows: padBatch(order.map((i) => items[i]!.example), padId),
    desirable: order.filter((i) => items[i]!.label).length,
    mismatched: padBatch(order.map((i) => twins[i]!.example), padId),
    ...(ref !== undefined ? { ref: Float32Array.from([...order.map((i) => ref[i]!), ...order.map((i) => ref[n + i]!)]) } : {}),
  };
}

export function feedbackBatchSource(items: readonly TokenizedFeedback[], twins: readonly TokenizedFeedback[], opts: { batchSize: number; seed: number }, padId: number, ref?: Float32Array): DataIterator<number, FeedbackBatch> {
  return new DataIterator(items.map((_, i) => i), { batchSize: opts.batchSize, seed: opts.seed, collate: (idx) => feedbackBatch(items, twins, idx, padId, ref) });
}

/** The KTO step: policy log-probs of the answers (with gradients) and of the twins (without, as TRL), the reference's, the loss. */
export function ktoStepLoss(model: LlamaModel, opts: KtoOptions, reference?: ReferencePolicy, settings: ForwardSettings = {}): (b: FeedbackBatch) => { loss: Tensor; tokens: number; metrics: Record<string, number> } {
  return (b) => {
    const rows = b.rows.batch;
    const policy = answerLogps(model, b.rows, false, settings); // (N)
    const klPolicy = withLoraEval(model, () => noGrad(() => tidy(() => answerLogps(model, b.mismatched)))); // (N)
    let ref: Tensor; // (N)
    let klRef: Tensor; // (N)
    if (b.ref !== undefined) [ref, klRef] = [tensor(b.ref.subarray(0, rows), [rows]), tensor(b.ref.subarray(rows), [rows])];
    else if (reference !== undefined) [ref, klRef] = reference(() => [tidy(() => answerLogps(model, b.rows)), tidy(() => answerLogps(model, b.mismatched))]);
    else throw new Error('kto: no reference log-probs (neither cached nor a reference policy)');
    const part = (t: Tensor, up: boolean): Tensor => (up ? narrow(t, 0, 0, b.desirable) : narrow(t, 0, b.desirable, rows - b.desirable));
    const { loss, kl, metrics } = ktoLoss(
      { desirable: part(policy, true), refDesirable: part(ref, true), undesirable: part(policy, false), refUndesirable: part(ref, false), klPolicy, klReference: klRef },
      opts,
    );
    return { loss, tokens: b.rows.ids.length + b.mismatched.ids.length, metrics: { ...metrics, 'rewards/margins': metrics['rewards/chosen'] - metrics['rewards/rejected'], kl } };
  };
}

/** The holdout's KTO loss and metrics (batch means weighted by their sizes). */
export function evaluateKto(model: LlamaModel, items: readonly TokenizedFeedback[], twins: readonly TokenizedFeedback[], padId: number, opts: KtoOptions, reference?: ReferencePolicy, ref?: Float32Array, batchSize = 8): { loss: number; metrics: Record<string, number> } {
  return holdoutMean(model, items.length, batchSize, (idx) => feedbackBatch(items, twins, idx, padId, ref), ktoStepLoss(model, opts, reference));
}
