// The pieces of an SFT run that the recipe and `whet bench train --realistic` share: the batch source (packed,
// or padded with length grouping, a token budget and bucketed lengths), the chunked loss, and the holdout
// evaluation at forward speed.
import type { LlamaModel } from '../model/llama.ts';
import { setLoraTraining } from '../adapters/apply.ts';
import type { TokenizedExample } from '../data/tokenize.ts';
import { nextTokenTargets, packExamples, padBatch, type Batch } from '../data/batch.ts';
import { DataIterator } from '../data/iterator.ts';
import { batchNll, scoringBatches } from '../eval/target-loss.ts';
import { linearCrossEntropy } from '../tensor/ops/linear-loss.ts';
import type { Rng } from '../tensor/random.ts';
import { withSavedActivations, type Tensor } from '../tensor/tensor.ts';
import type { BatchSource } from '../train/trainer.ts';
import type { TrainConfig } from './train-config.ts';

type BatchOptions = Pick<TrainConfig, 'packing' | 'max_length' | 'batch_size' | 'seed' | 'group_by_length' | 'max_batch_tokens'>;

/** Training batches and a line describing them. */
export function sftBatchSource(examples: readonly TokenizedExample[], cfg: BatchOptions, padId: number): { batches: BatchSource<Batch> & { epoch: number }; description: string } {
  if (cfg.packing) {
    const packed = packExamples(examples, cfg.max_length, padId);
    const row = (r: number): Batch => sliceRows(packed, r, r + 1);
    const batches = new DataIterator(packed.rows.map((_, i) => i), { batchSize: cfg.batch_size, seed: cfg.seed, collate: (rows) => concatRows(rows.map(row)) });
    return { batches, description: `${examples.length} examples packed into ${packed.batch} rows of ${cfg.max_length}` };
  }
  const budget = cfg.max_batch_tokens > 0 ? cfg.max_batch_tokens : undefined;
  const batches = new DataIterator(examples, {
    batchSize: cfg.batch_size,
    seed: cfg.seed,
    lengthOf: (e) => e.ids.length,
    groupByLength: cfg.group_by_length,
    maxBatchTokens: budget,
    bucketMax: cfg.max_length,
    collate: (items) => padBatch(items, padId, { bucket: cfg.max_length }),
  });
  const how = [cfg.group_by_length ? 'grouped by length' : 'shuffled', budget !== undefined ? `at most ${budget} tokens a batch` : ''].filter((s) => s !== '').join(', ');
  return { batches, description: `${examples.length} training examples, padded batches of up to ${cfg.batch_size} (${how})` };
}

/** Mean next-token loss of a batch through the chunked output head (the B×T×V logits never exist). */
export function sftLoss(model: LlamaModel, opts: { checkpoint: boolean; rngs: Rng[]; activations: 'f32' | 'bf16' }): (b: Batch) => { loss: Tensor; tokens: number } {
  return (b) => {
    const forward = () => model.forward(b.ids, b.batch, { positions: b.positions, segments: b.segments, checkpoint: opts.checkpoint, rngs: opts.rngs });
    const hidden = withSavedActivations(opts.activations, forward); // (B, T, D)
    return { loss: linearCrossEntropy(hidden, model.headWeight(), nextTokenTargets(b)), tokens: b.ids.length };
  };
}

/**
 * Holdout loss (mean NLL per loss token) at forward speed: batches by token budget, longest first, made once;
 * LoRA dropout off while it runs.
 */
export function holdoutEvaluator(model: LlamaModel, examples: readonly TokenizedExample[], padId: number, batchTokens: number, lora: boolean): () => number {
  const batches = scoringBatches(examples, padId, batchTokens);
  const lossTokens = batches.reduce((n, b) => n + b.lossTokens, 0);
  return () => {
    if (lora) setLoraTraining(model, false);
    try {
      return batches.reduce((sum, b) => sum + batchNll(model, b), 0) / lossTokens;
    } finally {
      if (lora) setLoraTraining(model, true);
    }
  };
}

/** Rows [from, to) of a batch. */
function sliceRows(b: Batch, from: number, to: number): Batch {
  const t = b.time;
  const labels = b.labels.subarray(from * t, to * t);
  return {
    ids: b.ids.subarray(from * t, to * t),
    labels,
    batch: to - from,
    time: t,
    positions: b.positions.subarray(from * t, to * t),
    segments: b.segments?.subarray(from * t, to * t),
    lossTokens: labels.reduce((n, l) => n + (l >= 0 ? 1 : 0), 0),
  };
}

/** Stacks rows of equal length into one batch. */
function concatRows(rows: Batch[]): Batch {
  const cat = (xs: Int32Array[]): Int32Array => {
    const out = new Int32Array(xs.reduce((n, x) => n + x.length, 0));
    let at = 0;
    for (const x of xs) {
      out.set(x, at);
      at += x.length;
    }
    return out;
  };
  return {
    ids: cat(rows.map((r) => r.ids)),
    labels: cat(rows.map((r) => r.labels)),
    batch: rows.reduce((n, r) => n + r.batch, 0),
    time: rows[0]!.time,
    positions: cat(rows.map((r) => r.positions)),
    segments: rows[0]!.segments === undefined ? undefined : cat(rows.map((r) => r.segments!)),
    lossTokens: rows.reduce((n, r) => n + r.lossTokens, 0),
  };
}
