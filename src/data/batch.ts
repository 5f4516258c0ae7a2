// Batches of tokenized examples: right-padded rows, or packed rows whose examples cannot attend to each other (positions restart, one segment id per example).
import { WhetError } from '../errors.ts';
import { IGNORE_INDEX } from '../tensor/ops/loss.ts';
import type { TokenizedExample } from './tokenize.ts';

/** Rows of equal length, row-major (batch, time). Labels follow TokenizedExample's convention. */
export interface Batch {
  ids: Int32Array;
  labels: Int32Array;
  batch: number;
  time: number;
  /** Position of each token within its own example (what RoPE sees). */
  positions: Int32Array;
  /** Packed rows only: one id per example in a row, padding its own; attention stays inside a segment. */
  segments?: Int32Array;
  /** Tokens that carry loss. */
  lossTokens: number;
}

function countLoss(labels: Int32Array): number {
  let n = 0;
  for (const l of labels) if (l !== IGNORE_INDEX) n++;
  return n;
}

/**
 * The padded length for a batch whose longest example has n tokens: n rounded up to a multiple of 1/8 of the
 * next power of two ≥ n (at least 16), capped at maxLength. An n over maxLength comes back as is (nothing is cut here).
 */
export function bucketLength(n: number, maxLength: number): number {
  if (!Number.isInteger(n) || n < 0) throw new WhetError(`bucketLength: length must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(maxLength) || maxLength < 1) throw new WhetError(`bucketLength: maximum length must be a positive integer, got ${maxLength}`);
  if (n >= maxLength) return n;
  // Eight buckets per doubling: padded shapes repeat from step to step (the pool and kernels see the same sizes),
  // at a cost of under n/4 extra tokens (at most 15 for short rows).
  let pow = 1;
  while (pow < n) pow *= 2;
  const granularity = Math.max(16, pow / 8);
  return Math.min(Math.ceil(n / granularity) * granularity, maxLength);
}

/**
 * Right-pads examples to the longest one (or to its bucketLength with `bucket`, the maximum length; then to a
 * multiple of `multipleOf`). Padding never carries loss, even when padId is also an EOS id, and causal attention
 * keeps real tokens from seeing the padding after them.
 */
export function padBatch(examples: readonly TokenizedExample[], padId: number, opts: { multipleOf?: number; bucket?: number } = {}): Batch {
  if (examples.length === 0) throw new WhetError('cannot make a batch of no examples');
  const multiple = opts.multipleOf ?? 1;
  const longest = Math.max(...examples.map((e) => e.ids.length));
  const padded = opts.bucket === undefined ? longest : bucketLength(longest, opts.bucket);
  const time = Math.ceil(padded / multiple) * multiple;
  const batch = examples.length;
  const ids = new Int32Array(batch * time).fill(padId);
  const labels = new Int32Array(batch * time).fill(IGNORE_INDEX);
  const positions = new Int32Array(batch * time);
  examples.forEach((e, b) => {
    ids.set(e.ids, b * time);
    labels.set(e.labels, b * time);
    for (let t = 0; t < time; t++) positions[b * time + t] = t;
  });
  return { ids, labels, batch, time, positions, lossTokens: countLoss(labels) };
}

export interface Packed extends Batch {
  segments: Int32Array;
  /** Which examples (indices into the input) each row holds, in order. */
  rows: number[][];
  /** Tokens cut from examples longer than seqLen. */
  truncated: number;
}

/**
 * Packs examples into rows of exactly seqLen tokens, first-fit decreasing (longest first, each into the first
 * row with room). An example longer than seqLen is cut to it (counted in `truncated`). Every example gets its
 * own segment id and positions from 0, so with `segments` passed to the model no token attends across examples.
 */
export function packExamples(examples: readonly TokenizedExample[], seqLen: number, padId = 0): Packed {
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new WhetError(`sequence length must be a positive integer, got ${seqLen}`);
  let truncated = 0;
  const lengths = examples.map((e) => {
    if (e.ids.length > seqLen) truncated += e.ids.length - seqLen;
    return Math.min(e.ids.length, seqLen);
  });
  const order = lengths.map((_, i) => i).filter((i) => lengths[i]! > 0).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  const rows: number[][] = [];
  const free: number[] = [];
  for (const i of order) {
    let r = free.findIndex((f) => f >= lengths[i]!);
    if (r < 0) {
      r = rows.length;
      rows.push([]);
      free.push(seqLen);
    }
    rows[r]!.push(i);
    free[r]! -= lengths[i]!;
  }
  const batch = rows.length;
  const ids = new Int32Array(batch * seqLen).fill(padId);
  const labels = new Int32Array(batch * seqLen).fill(IGNORE_INDEX);
  const positions = new Int32Array(batch * seqLen);
  const segments = new Int32Array(batch * seqLen);
  rows.forEach((members, r) => {
    let at = r * seqLen;
    members.forEach((i, s) => {
      const n = lengths[i]!;
      ids.set(examples[i]!.ids.subarray(0, n), at);
      labels.set(examples[i]!.labels.subarray(0, n), at);
      // The first token of every example has no target in the row: the previous example's last logit must not predict it.
      labels[at] = IGNORE_INDEX;
      for (let t = 0; t < n; t++) {
        positions[at + t] = t;
        segments[at + t] = s;
      }
      at += n;
    });
    const end = (r + 1) * seqLen;
    for (let t = 0; at + t < end; t++) {
      positions[at + t] = t;
      segments[at + t] = members.length;
    }
  });
  return { ids, labels, batch, time: seqLen, positions, segments, rows, truncated, lossTokens: countLoss(labels) };
}

/**
 * Next-token targets for a batch's logits: target[b, t] = labels[b, t + 1], and IGNORE_INDEX at each row's
 * end. Feed it with the (B·T, V) logits to crossEntropy.
 */
export function nextTokenTargets(batch: Pick<Batch, 'labels' | 'batch' | 'time'>): Int32Array {
  const { labels, batch: b, time } = batch;
  const out = new Int32Array(b * time).fill(IGNORE_INDEX);
  for (let r = 0; r < b; r++) out.set(labels.subarray(r * time + 1, (r + 1) * time), r * time);
  return out;
}
