// DPO's pieces for the shared trainer: pairs batched as TRL does (chosen rows, then rejected rows), sequence
// log-probs through the chunked head, the reference as the same model with its adapters off (no second copy of the
// weights), and the step loss with TRL's metrics.
import type { LlamaModel } from '../model/llama.ts';
import { setLoraEnabled } from '../adapters/apply.ts';
import { nextTokenTargets, padBatch, type Batch } from '../data/batch.ts';
import type { TokenizedPair } from '../data/preference-tokenize.ts';
import { noGrad } from '../tensor/grad-mode.ts';
import { tensor } from '../tensor/ops/create.ts';
import { linearLogProbs } from '../tensor/ops/linear-loss.ts';
import { IGNORE_INDEX } from '../tensor/ops/loss.ts';
import { narrow, reshape } from '../tensor/ops/shape.ts';
import { tidy, type Tensor } from '../tensor/tensor.ts';
import { dpoLoss, sequenceLogps, type DpoOptions } from '../train/preference-loss.ts';

/** B pairs as one padded batch of 2B rows: the chosen answers, then the rejected ones. */
export function pairBatch(pairs: readonly TokenizedPair[], padId: number): Batch {
  return padBatch([...pairs.map((p) => p.chosen), ...pairs.map((p) => p.rejected)], padId);
}

/** Log-probability of each row's answer tokens (rows): summed, or averaged over them (ipo, simpo). */
export function answerLogps(model: LlamaModel, batch: Batch, average = false): Tensor {
  const targets = nextTokenTargets(batch);
  const hidden = model.forward(batch.ids, batch.batch, { positions: batch.positions }); // (R, T, D)
  const perToken = reshape(linearLogProbs(hidden, model.headWeight(), targets), [batch.batch, batch.time]); // (R, T)
  const mask = tensor(Array.from(targets, (t) => (t === IGNORE_INDEX ? 0 : 1)), [batch.batch, batch.time], perToken.dtype); // (R, T)
  return sequenceLogps(perToken, mask, average);
}

/** The reference's log-probs: the same model with its LoRA adapters switched off, without gradients. */
export function referenceLogps(model: LlamaModel, batch: Batch, average = false): Tensor {
  setLoraEnabled(model, false);
  try {
    return noGrad(() => tidy(() => answerLogps(model, batch, average)));
  } finally {
    setLoraEnabled(model, true);
  }
}

/** The DPO step for the trainer: policy and reference log-probs of a pair batch, the loss and TRL's metrics. */
export function dpoStepLoss(model: LlamaModel, opts: DpoOptions): (batch: Batch) => { loss: Tensor; tokens: number; metrics: Record<string, number> } {
  const average = opts.loss === 'ipo' || opts.loss === 'simpo';
  return (batch) => {
    const pairs = batch.batch / 2;
    const policy = answerLogps(model, batch, average); // (2B)
    const ref = opts.loss === 'simpo' ? undefined : referenceLogps(model, batch, average); // (2B)
    const half = (t: Tensor, i: number): Tensor => narrow(t, 0, i * pairs, pairs); // (B)
    const { loss, metrics } = dpoLoss(
      { chosen: half(policy, 0), rejected: half(policy, 1), ...(ref === undefined ? {} : { refChosen: half(ref, 0), refRejected: half(ref, 1) }) },
      opts,
    );
    return { loss, tokens: batch.ids.length, metrics: { ...metrics } };
  };
}
