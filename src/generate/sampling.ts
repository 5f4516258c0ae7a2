// Picks the next token from logits: repetition penalty, temperature, top-k, top-p, min-p, seeded sampling.
import type { Rng } from '../tensor/random.ts';

export interface SamplingOptions {
  /** 0 = greedy (argmax). Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 = off). */
  topP?: number;
  /** Drop tokens less likely than minP × the most likely one (0 = off). */
  minP?: number;
  /** > 1 discourages tokens already in the context (CTRL/HF rule: positive logits divided, negative multiplied). */
  repetitionPenalty?: number;
}

/** The index of the largest value (the first of ties; NaNs ignored; 0 when there is none). */
export function argmax(x: ArrayLike<number>): number {
  // Four running maxima, then the first index holding the largest: independent chains run ~1.5× one compare-and-
  // index loop over a vocabulary of logits (greedy decoding does one per token and row).
  let m0 = -Infinity, m1 = -Infinity, m2 = -Infinity, m3 = -Infinity;
  const n = x.length & ~3;
  for (let i = 0; i < n; i += 4) {
    const a = x[i]!, b = x[i + 1]!, c = x[i + 2]!, d = x[i + 3]!;
    if (a > m0) m0 = a;
    if (b > m1) m1 = b;
    if (c > m2) m2 = c;
    if (d > m3) m3 = d;
  }
  let m = Math.max(m0, m1, m2, m3);
  for (let i = n; i < x.length; i++) if (x[i]! > m) m = x[i]!;
  const at = ArrayBuffer.isView(x) ? (x as Float32Array).indexOf(m) : Array.prototype.indexOf.call(x, m);
  return at < 0 ? 0 : at;
}

/** Samples one token id. logits is modified in place. `context` holds the ids seen so far (for the penalty). */
export function sampleToken(logits: Float32Array, opts: SamplingOptions, rng: Rng, context: readonly number[] = []): number {
  const penalty = opts.repetitionPenalty ?? 1;
  if (penalty !== 1)
    for (const id of new Set(context)) {
      const l = logits[id]!;
      logits[id] = l > 0 ? l / penalty : l * penalty;
    }
  const temperature = opts.temperature ?? 1;
  if (temperature <= 0) return argmax(logits);

  const filtered = (opts.topK ?? 0) > 0 || (opts.topP ?? 1) < 1 || (opts.minP ?? 0) > 0;
  if (!filtered) return sampleAll(logits, temperature, rng);
  // Candidates most likely first when a filter will cut the tail (sorting the whole vocabulary otherwise is wasted work).
  let ids = filtered ? Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]!) : Array.from(logits.keys());
  const topK = opts.topK ?? 0;
  if (topK > 0 && topK < ids.length) ids = ids.slice(0, topK);
  const maxLogit = filtered ? logits[ids[0]!]! : logits[argmax(logits)]!;
  let probs = ids.map((id) => Math.exp((logits[id]! - maxLogit) / temperature));
  let total = probs.reduce((a, b) => a + b, 0);
  const topP = opts.topP ?? 1;
  if (topP < 1) {
    let cum = 0;
    let keep = 0;
    while (keep < probs.length && cum < topP * total) cum += probs[keep++]!;
    ids = ids.slice(0, Math.max(keep, 1));
    probs = probs.slice(0, ids.length);
    total = probs.reduce((a, b) => a + b, 0);
  }
  const minP = opts.minP ?? 0;
  if (minP > 0) {
    const threshold = minP * probs[0]!; // probs[0] is the most likely: ids are sorted
    let keep = probs.findIndex((p) => p < threshold);
    if (keep === -1) keep = probs.length;
    ids = ids.slice(0, Math.max(keep, 1));
    probs = probs.slice(0, ids.length);
    total = probs.reduce((a, b) => a + b, 0);
  }
  let r = rng.uniform() * total;
  for (let i = 0; i < ids.length; i++) {
    r -= probs[i]!;
    if (r <= 0) return ids[i]!;
  }
  return ids[ids.length - 1]!;
}

/**
 * Samples from the whole vocabulary: the unfiltered path of sampleToken with the same arithmetic in the same order
 * (so the same token for the same draw), in typed arrays — RL samples at temperature 1 for every completion token.
 */
function sampleAll(logits: Float32Array, temperature: number, rng: Rng): number {
  const maxLogit = logits[argmax(logits)]!;
  const probs = new Float64Array(logits.length);
  let total = 0;
  for (let id = 0; id < logits.length; id++) {
    probs[id] = Math.exp((logits[id]! - maxLogit) / temperature);
    total += probs[id]!;
  }
  let r = rng.uniform() * total;
  for (let id = 0; id < probs.length; id++) {
    r -= probs[id]!;
    if (r <= 0) return id;
  }
  return probs.length - 1;
}
