// Fused transformer ops: embedding, RMSNorm, RoPE, SwiGLU, softmax and flash-style attention.
import type { FloatArray } from '../../backend/backend.ts';
import type { QuantDType } from '../dtype.ts';
import { record, savedActivationDtype, Tensor } from '../tensor.ts';
import { zeros } from './create.ts';

/** table[ids]: ids (Int32Array, n entries) with shape idsShape → (...idsShape, dim). table may be frozen bf16 or quantised. */
export function embedding(table: Tensor, ids: Int32Array, idsShape: readonly number[] = [ids.length]): Tensor {
  const [vocab, dim] = table.shape as [number, number];
  for (const id of ids) if (!(id >= 0 && id < vocab)) throw new Error(`embedding: token id ${id} out of range [0, ${vocab})`);
  const out = Tensor.empty([...idsShape, dim], table.dtype === 'f64' ? 'f64' : 'f32');
  if (table.quantized) out.backend.dequantRows(table.data as Uint8Array, table.dtype as QuantDType, dim, ids, out.f as Float32Array);
  else out.backend.embedding(table.data as Float32Array, ids, out.f, ids.length, dim);
  return record(out, 'embedding', [table], (g) => {
    const gt = zeros(table.shape, g.dtype);
    g.backend.embeddingBackward(g.f, ids, gt.f, ids.length, dim);
    return [gt];
  });
}

/** RMSNorm over the last axis: x · rsqrt(mean(x²) + eps) · weight. */
export function rmsnorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  const dim = x.dim(-1);
  if (weight.size !== dim) throw new Error(`rmsnorm: weight of ${weight.size} for last dim ${dim}`);
  const rows = x.size / dim;
  const out = Tensor.empty(x.shape, x.dtype);
  const rstd = Tensor.empty([rows], x.dtype);
  x.backend.rmsnorm(x.f, weight.f, out.f, rstd.f, rows, dim, eps);
  return record(out, 'rmsnorm', [x, weight], (g) => {
    const gx = Tensor.empty(x.shape, x.dtype);
    const gw = zeros(weight.shape, weight.dtype);
    x.backend.rmsnormBackward(x.f, weight.f, rstd.f, g.f, gx.f, gw.f, rows, dim);
    return [gx, gw];
  }).recomputable((o) => x.backend.rmsnorm(x.f, weight.f, o as FloatArray, rstd.f, rows, dim, eps)); // rstd's rewrite is identical
}

export interface RopeOptions {
  /** Position of each (batch, time) row, B·T entries. */
  positions: Int32Array;
  /** Inverse frequencies, dim/2 entries (theta and any rope scaling folded in). */
  invFreq: Float32Array;
  /** Interleaved pairs (2i, 2i+1) as in llama2.c/GGUF; otherwise halves (i, i+dim/2) as in HF. */
  interleaved: boolean;
  /** Rotate x's own storage instead of a copy: only for an x that nothing reads afterwards (its producer's backward included). */
  inPlace?: boolean;
}

/** Rotary position embedding on x (B, T, H, D). Its backward needs no activation: rotating in place frees one per call. */
export function rope(x: Tensor, opts: RopeOptions): Tensor {
  const dim = x.dim(-1);
  const heads = x.dim(-2);
  const rows = x.size / (dim * heads);
  if (opts.positions.length !== rows) throw new Error(`rope: ${opts.positions.length} positions for ${rows} rows`);
  if (opts.invFreq.length !== dim / 2) throw new Error(`rope: ${opts.invFreq.length} frequencies for head dim ${dim}`);
  const out = opts.inPlace === true ? x.overwriteView() : Tensor.empty(x.shape, x.dtype);
  x.backend.rope(x.f, out.f, rows, heads, dim, opts.positions, opts.invFreq, opts.interleaved, false);
  return record(out, 'rope', [x], (g) => {
    const gx = Tensor.empty(x.shape, x.dtype);
    x.backend.rope(g.f, gx.f, rows, heads, dim, opts.positions, opts.invFreq, opts.interleaved, true);
    return [gx];
  });
}

/** Standard inverse frequencies theta^(-2i/dim). */
export function ropeFrequencies(dim: number, theta: number): Float32Array {
  const f = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) f[i] = 1 / Math.pow(theta, (2 * i) / dim);
  return f;
}

/** silu(gate) · up. */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  if (gate.size !== up.size) throw new Error('swiglu: gate and up differ in size');
  const out = Tensor.empty(gate.shape, gate.dtype);
  gate.backend.swiglu(gate.f, up.f, out.f, gate.size);
  const result = record(out, 'swiglu', [gate, up], (g) => {
    const gg = Tensor.empty(gate.shape, gate.dtype);
    const gu = Tensor.empty(up.shape, up.dtype);
    gate.backend.swigluBackward(gate.f, up.f, g.f, gg.f, gu.f, gate.size);
    return [gg, gu];
  }).recomputable((o) => gate.backend.swiglu(gate.f, up.f, o as FloatArray, gate.size));
  // Only this op's backward (and the product's recomputation) reads gate and up again: they may wait in bf16.
  if (savedActivationDtype() === 'bf16') {
    gate.storeAsBf16();
    up.storeAsBf16();
  }
  return result;
}

/** Softmax over the last axis; with causal, x is (..., Tq, Tk) and query i sees keys j <= i + Tk - Tq. */
export function softmax(x: Tensor, causal = false): Tensor {
  const n = x.dim(-1);
  const rows = x.size / n;
  const tq = causal ? x.dim(-2) : 0;
  const out = Tensor.empty(x.shape, x.dtype);
  x.backend.softmax(x.f, out.f, rows, n, tq, n - tq);
  return record(out, 'softmax', [x], (g) => {
    const gx = Tensor.empty(x.shape, x.dtype);
    x.backend.softmaxBackward(out.f, g.f, gx.f, rows, n);
    return [gx];
  });
}

export interface AttentionOptions {
  causal: boolean;
  /** Defaults to 1/sqrt(head dim). */
  scale?: number;
  /** Keys in use, for a KV cache of capacity k.dim(1) (default: all). Gradients need tk = capacity. */
  tk?: number;
  /** Segment id per (batch, time) row for packed sequences: no attention across segments. */
  segments?: Int32Array;
}

/** Flash-style attention: q (B, Tq, Hq, D), k and v (B, S, Hkv, D) → (B, Tq, Hq, D). Keeps only the logsumexp for backward. */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Tensor {
  const [batch, tq, hq, dim] = q.shape as [number, number, number, number];
  const [kb, kvCap, hkv, kd] = k.shape as [number, number, number, number];
  if (q.rank !== 4 || k.rank !== 4 || v.shape.join() !== k.shape.join() || kb !== batch || kd !== dim || hq % hkv !== 0)
    throw new Error(`attention: shapes q [${q.shape.join(', ')}], k [${k.shape.join(', ')}], v [${v.shape.join(', ')}] do not fit`);
  const tk = opts.tk ?? kvCap;
  if (opts.segments !== undefined && (opts.segments.length !== batch * tq || tq !== tk)) throw new Error('attention: segments need one id per row and Tq == Tk');
  const out = Tensor.empty(q.shape, q.dtype);
  const lse = Tensor.empty([batch, hq, tq], q.dtype);
  const args = { q: q.f, k: k.f, v: v.f, o: out.f, lse: lse.f, batch, tq, tk, kvCap, hq, hkv, dim, scale: opts.scale ?? 1 / Math.sqrt(dim), causal: opts.causal, segments: opts.segments };
  q.backend.attention(args);
  return record(out, 'attention', [q, k, v], (g) => {
    if (tk !== kvCap) throw new Error('attention: gradients need the whole KV capacity in use');
    const gq = Tensor.empty(q.shape, q.dtype);
    const gk = Tensor.empty(k.shape, k.dtype);
    const gv = Tensor.empty(v.shape, v.dtype);
    q.backend.attentionBackward({ ...args, go: g.f, gq: gq.f, gk: gk.f, gv: gv.f });
    return [gq, gk, gv];
  });
}

/** One sequence's KV cache for a layer: k and v (1, capacity, Hkv, D), `length` positions filled. */
export interface CachedKV {
  k: Tensor;
  v: Tensor;
  length: number;
}

/**
 * Decoding several sequences, each with its own cache: the new k and v (B, T, Hkv, D) of row b are stored
 * after caches[b]'s `length` positions, then its queries q (B, T, Hq, D) attend causally to the cache →
 * (B, T, Hq, D). Forward only: it writes into the caches, which no gradient can go through.
 */
export function attentionCached(q: Tensor, k: Tensor, v: Tensor, caches: CachedKV[]): Tensor {
  const [batch, tq, hq, dim] = q.shape as [number, number, number, number];
  const hkv = k.dim(2);
  if (q.requiresGrad || k.requiresGrad || v.requiresGrad) throw new Error('attentionCached: decoding only; it has no gradient');
  if (q.rank !== 4 || k.shape.join() !== v.shape.join() || k.dim(0) !== batch || k.dim(1) !== tq || k.dim(3) !== dim || caches.length !== batch || hq % hkv !== 0)
    throw new Error(`attentionCached: shapes q [${q.shape.join(', ')}], k [${k.shape.join(', ')}] and ${caches.length} caches do not fit`);
  const out = Tensor.empty(q.shape, q.dtype);
  q.backend.attentionCached({
    q: q.f, newK: k.f, newV: v.f, ks: caches.map((c) => c.k.f), vs: caches.map((c) => c.v.f), o: out.f,
    lengths: Int32Array.from(caches, (c) => c.length), batch, tq, hq, hkv, dim, scale: 1 / Math.sqrt(dim),
  });
  return out;
}
