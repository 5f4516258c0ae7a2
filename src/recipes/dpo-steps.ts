// DPO's pieces for the shared trainer: pairs batched as TRL does (chosen rows, then rejected rows), sequence
// log-probs through the chunked head, the reference policy (LoRA: the same weights with the adapter off, or with
// the starting adapter's weights swapped in: no second copy of the model; full: log-probs cached before training),
// the step loss with TRL's metrics, and the holdout's loss and metrics.
import type { LlamaModel } from '../model/llama.ts';
import { loraParameters, setLoraEnabled, withLoraEval } from '../adapters/apply.ts';
import { nextTokenTargets, padBatch, type Batch } from '../data/batch.ts';
import { DataIterator } from '../data/iterator.ts';
import type { TokenizedPair } from '../data/preference-tokenize.ts';
import type { TokenizedExample } from '../data/tokenize.ts';
import { noGrad } from '../tensor/grad-mode.ts';
import { tensor } from '../tensor/ops/create.ts';
import { add, mul, scale } from '../tensor/ops/elementwise.ts';
import { sum } from '../tensor/ops/reduce.ts';
import { linearLogProbs } from '../tensor/ops/linear-loss.ts';
import { IGNORE_INDEX } from '../tensor/ops/loss.ts';
import { narrow, reshape } from '../tensor/ops/shape.ts';
import type { Rng } from '../tensor/random.ts';
import { tidy, withSavedActivations, type Tensor } from '../tensor/tensor.ts';
import { dpoLoss, sequenceLogps, type DpoOptions } from '../train/preference-loss.ts';

/** Rows of answers (with their prompts) and, when cached before training, the reference's log-prob of each row. */
export interface AnswerBatch {
  rows: Batch;
  ref?: Float32Array;
}

export interface ForwardSettings {
  checkpoint?: boolean;
  rngs?: Rng[];
  activations?: 'f32' | 'bf16';
}

/** B pairs as one padded batch of 2B rows: the chosen answers, then the rejected ones. */
export function pairBatch(pairs: readonly TokenizedPair[], padId: number): Batch {
  return padBatch([...pairs.map((p) => p.chosen), ...pairs.map((p) => p.rejected)], padId);
}

/**
 * Per-token log-probabilities of each row's answer tokens (R, T), the 0/1 answer mask (R, T) they count under, and
 * the final hidden states (R, T, D) they came from (PPO's value head reads them too).
 */
export function tokenLogps(model: LlamaModel, batch: Batch, settings: ForwardSettings = {}): { logps: Tensor; mask: Tensor; hidden: Tensor } {
  const targets = nextTokenTargets(batch);
  const forward = () => model.forward(batch.ids, batch.batch, { positions: batch.positions, checkpoint: settings.checkpoint, rngs: settings.rngs });
  const hidden = withSavedActivations(settings.activations ?? 'f32', forward); // (R, T, D)
  const logps = reshape(linearLogProbs(hidden, model.headWeight(), targets), [batch.batch, batch.time]); // (R, T)
  const mask = tensor(Array.from(targets, (t) => (t === IGNORE_INDEX ? 0 : 1)), [batch.batch, batch.time], logps.dtype); // (R, T)
  return { logps, mask, hidden };
}

/** Log-probability of each row's answer tokens (rows): summed, or averaged over them (ipo, simpo). */
export function answerLogps(model: LlamaModel, batch: Batch, average = false, settings: ForwardSettings = {}): Tensor {
  const { logps, mask } = tokenLogps(model, batch, settings);
  return sequenceLogps(logps, mask, average);
}

/** Runs a computation as the reference policy: without gradients and LoRA dropout, under the reference's weights. */
export type ReferencePolicy = <T>(fn: () => T) => T;

/**
 * A reference that is the policy's starting weights: `params` as they are now, swapped in for each reference call
 * (a continued adapter's few MB; every weight in full fine-tuning) and swapped back after.
 */
export function startingWeightsReference(model: LlamaModel, params: readonly Tensor[]): ReferencePolicy {
  const start = params.map((p) => Float32Array.from(p.f));
  return (fn) => withLoraEval(model, () => noGrad(() => {
    const current = params.map((p) => Float32Array.from(p.f));
    params.forEach((p, i) => p.f.set(start[i]!));
    try {
      return fn();
    } finally {
      params.forEach((p, i) => p.f.set(current[i]!));
    }
  }));
}

/**
 * The LoRA reference: the base alone (adapter off), or, for a run that continues an adapter (an SFT adapter
 * before DPO), that adapter's starting weights swapped in for the call: a few MB copied, never a second model.
 */
export function loraReference(model: LlamaModel, continuesAdapter: boolean): ReferencePolicy {
  if (continuesAdapter) return startingWeightsReference(model, loraParameters(model));
  return (fn) => withLoraEval(model, () => noGrad(() => {
    setLoraEnabled(model, false);
    try {
      return fn();
    } finally {
      setLoraEnabled(model, true);
    }
  }));
}

/** The reference's log-prob of every example, computed once (full fine-tuning: before the weights move). */
export function cachedReferenceLogps(model: LlamaModel, examples: readonly TokenizedExample[], padId: number, average: boolean, batchRows = 16): Float32Array {
  const out = new Float32Array(examples.length);
  withLoraEval(model, () => noGrad(() => {
    for (let i = 0; i < examples.length; i += batchRows) {
      const rows = padBatch(examples.slice(i, i + batchRows), padId);
      tidy(() => out.set(answerLogps(model, rows, average).toArray(), i));
    }
  }));
  return out;
}

/** Pair batches for training: `ref` (2N: chosen then rejected per pair index) attaches cached reference log-probs. */
export function pairBatchSource(pairs: readonly TokenizedPair[], opts: { batchSize: number; seed: number }, padId: number, ref?: Float32Array): DataIterator<number, AnswerBatch> {
  return new DataIterator(pairs.map((_, i) => i), { batchSize: opts.batchSize, seed: opts.seed, collate: (idx) => pairsAt(pairs, idx, padId, ref) });
}

/** The reference's log-probs of a batch's rows: cached, or computed by the reference policy. */
function referenceOf(model: LlamaModel, b: AnswerBatch, average: boolean, reference: ReferencePolicy | undefined): Tensor {
  if (b.ref !== undefined) return tensor(b.ref, [b.ref.length]);
  if (reference === undefined) throw new Error('dpo: no reference log-probs (neither cached nor a reference policy)');
  return reference(() => tidy(() => answerLogps(model, b.rows, average)));
}

/** Whether a DPO loss compares length-averaged log-probs. */
export function averagesLogps(loss: DpoOptions['loss']): boolean {
  return loss === 'ipo' || loss === 'simpo';
}

/** DPO's settings, with TRL's rpo_alpha: the weight of the chosen answers' mean NLL added to the loss (RPO). */
export type DpoStepOptions = DpoOptions & { rpoAlpha?: number };

/**
 * The DPO step for the trainer: policy and reference log-probs of a pair batch, the loss and TRL's metrics. With
 * rpoAlpha the chosen answers' NLL per token joins the loss: DPO alone may push the rejected answer down by
 * making every answer less likely, RPO keeps the chosen one likely.
 */
export function dpoStepLoss(model: LlamaModel, opts: DpoStepOptions, reference?: ReferencePolicy, settings: ForwardSettings = {}): (b: AnswerBatch) => { loss: Tensor; tokens: number; metrics: Record<string, number> } {
  const average = averagesLogps(opts.loss);
  return (b) => {
    const pairs = b.rows.batch / 2;
    const { logps: perToken, mask } = tokenLogps(model, b.rows, settings); // (2B, T)
    const policy = sequenceLogps(perToken, mask, average); // (2B)
    const ref = opts.loss === 'simpo' ? undefined : referenceOf(model, b, average, reference); // (2B)
    const half = (t: Tensor, i: number): Tensor => narrow(t, 0, i * pairs, pairs); // (B)
    const { loss, metrics } = dpoLoss(
      { chosen: half(policy, 0), rejected: half(policy, 1), ...(ref === undefined ? {} : { refChosen: half(ref, 0), refRejected: half(ref, 1) }) },
      opts,
    );
    if (opts.rpoAlpha === undefined || opts.rpoAlpha === 0) return { loss, tokens: b.rows.ids.length, metrics: { ...metrics } };
    const chosenMask = half(mask, 0); // (B, T)
    const nll = scale(sum(mul(half(perToken, 0), chosenMask)), -1 / chosenMask.toArray().reduce((a, v) => a + v, 0));
    return { loss: add(loss, scale(nll, opts.rpoAlpha)), tokens: b.rows.ids.length, metrics: { ...metrics, nll_loss: nll.item() } };
  };
}

/**
 * A holdout's loss and metrics: a step loss run without gradients or dropout over index batches of `count` items,
 * each batch weighted by its size.
 */
export function holdoutMean<B>(model: LlamaModel, count: number, batchSize: number, batchOf: (idx: number[]) => B, step: (b: B) => { loss: Tensor; metrics: Record<string, number> }): { loss: number; metrics: Record<string, number> } {
  let loss = 0;
  const sums: Record<string, number> = {};
  withLoraEval(model, () => noGrad(() => {
    for (let i = 0; i < count; i += batchSize) {
      const idx = Array.from({ length: Math.min(batchSize, count - i) }, (_, k) => i + k);
      tidy(() => {
        const r = step(batchOf(idx));
        loss += r.loss.item() * idx.length;
        for (const [k, v] of Object.entries(r.metrics)) sums[k] = (sums[k] ?? 0) + v * idx.length;
      });
    }
  }));
  const n = Math.max(count, 1);
  return { loss: loss / n, metrics: Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / n])) };
}

/** Pairs idx as a batch, with their cached reference log-probs when `ref` (2N: chosen then rejected per pair) is given. */
function pairsAt(pairs: readonly TokenizedPair[], idx: readonly number[], padId: number, ref?: Float32Array): AnswerBatch {
  const n = pairs.length;
  return {
    rows: pairBatch(idx.map((i) => pairs[i]!), padId),
    ...(ref !== undefined ? { ref: Float32Array.from([...idx.map((i) => ref[i]!), ...idx.map((i) => ref[n + i]!)]) } : {}),
  };
}

/** The holdout's DPO loss and metrics (mean over pairs). */
export function evaluateDpo(model: LlamaModel, pairs: readonly TokenizedPair[], padId: number, opts: DpoStepOptions, reference?: ReferencePolicy, ref?: Float32Array, batchPairs = 8): { loss: number; metrics: Record<string, number> } {
  return holdoutMean(model, pairs.length, batchPairs, (idx) => pairsAt(pairs, idx, padId, ref), dpoStepLoss(model, opts, reference));
}
