// The Backend interface: ~30 primitive ops on flat typed arrays that every backend implements.
//
// Conventions (every op):
// - Arrays are row-major and contiguous unless strides are given; sizes and offsets count elements.
// - FloatArray is Float32Array on the native backend; the reference backend also takes Float64Array
//   (used by float64 gradient checks). A `Bf16Array` is a Uint16Array of bfloat16 bit patterns
//   (frozen weights); only ops that say so accept it.
// - "writes" means the output is overwritten; "accumulates" means it is added to (+=).
// - Outputs never alias inputs unless the op says so; elementwise ops (binary, unary, affine) allow
//   the output to alias an input of the output's own shape and layout (in-place updates).

import type { QuantDType } from '../tensor/dtype.ts';

export type FloatArray = Float32Array | Float64Array;
export type Bf16Array = Uint16Array;
export type WeightArray = FloatArray | Bf16Array;

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div';
export type UnaryOp = 'exp' | 'log' | 'neg' | 'sqrt' | 'square' | 'relu' | 'tanh' | 'sigmoid' | 'silu' | 'logsigmoid';

export interface MatmulArgs {
  // Batched C[i] (m×n) = op(A[i]) (m×k) · op(B[i]) (k×n), i in [0, batch).
  // A is stored m×k (transA false) or k×m (transA true); B is stored k×n (transB false) or n×k
  // (transB true); C is m×n. B may be bf16. Strides are per batch element; 0 reuses one matrix.
  // B bf16: A may be rounded to bf16 (nearest even) for products with m ≥ 12 (any m with transB): the native backend does
  // so on CPUs with AVX512_BF16, to multiply on vdpbf16ps, moving each product by at most 2^-9
  // relative (sums stay f32). addon.gemmRoundsA(m, k, transB) says when; native/src/gemm.h has the
  // details. Other backends and f32 B multiply A as given.
  a: FloatArray; aOffset: number; strideA: number; transA: boolean;
  b: WeightArray; bOffset: number; strideB: number; transB: boolean;
  c: FloatArray; cOffset: number; strideC: number;
  batch: number; m: number; n: number; k: number;
  accumulate: boolean; // C += A·B instead of C = A·B
}

export interface QuantMatmulArgs {
  // C (m×n) = A (m×k) · op(W), W frozen quantised blocks (GGUF layout, each row whole blocks): transW, W is n×k (a
  // linear layer's forward, x·Wᵀ); else W is k×n (the gradient to x through it, g·W). A and C dense f32 at offsets.
  // Products with few rows (decode) may quantise A's rows to int8 blocks, as llama.cpp does.
  a: Float32Array; aOffset: number;
  w: Uint8Array; type: QuantDType; transW: boolean;
  c: Float32Array; cOffset: number;
  m: number; n: number; k: number;
  accumulate: boolean;
}

export interface AttentionArgs {
  // Scaled dot-product attention with grouped-query heads (head h reads kv head h / (hq/hkv)).
  // q: (B, Tq, Hq, D); k, v: (B, kvCap, Hkv, D) of which positions [0, Tk) are used; o: (B, Tq, Hq, D);
  // lse: (B, Hq, Tq) logsumexp of each query's scaled scores (saved for backward).
  // Causal: query i sits at position Tk - Tq + i and sees keys j <= that position.
  // segments (optional, only when Tq == Tk): Int32Array (B*Tq); a query sees only keys of its own
  // segment (packed sequences). Every query must see at least one key.
  q: FloatArray; k: FloatArray; v: FloatArray; o: FloatArray; lse: FloatArray;
  batch: number; tq: number; tk: number; kvCap: number; hq: number; hkv: number; dim: number;
  scale: number; causal: boolean; segments?: Int32Array;
}

export interface AttentionBackwardArgs extends AttentionArgs {
  // go: (B, Tq, Hq, D) incoming gradient. gq (B, Tq, Hq, D) and gk, gv (B, kvCap, Hkv, D; only
  // positions [0, Tk) touched) are written. Recomputes scores block by block: no Tq×Tk matrix kept.
  go: FloatArray; gq: FloatArray; gk: FloatArray; gv: FloatArray;
}

export interface CachedAttentionArgs {
  // Decoding with one KV cache per sequence. Row b's Tq new keys and values (newK, newV: (B, Tq, Hkv, D))
  // are stored at positions [lengths[b], lengths[b] + Tq) of ks[b], vs[b] (its cache: (capacity, Hkv, D)),
  // then its queries (q: (B, Tq, Hq, D)) attend causally to positions [0, lengths[b] + Tq): o (B, Tq, Hq, D).
  q: FloatArray; newK: FloatArray; newV: FloatArray; ks: FloatArray[]; vs: FloatArray[]; o: FloatArray;
  lengths: Int32Array; batch: number; tq: number; hq: number; hkv: number; dim: number; scale: number;
}

export interface AdamWArgs {
  // Decoupled weight decay: p -= lr*wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
  // p -= lr * (m/bc1) / (sqrt(v/bc2) + eps), with bc1 = 1-b1^t and bc2 = 1-b2^t.
  p: FloatArray; g: FloatArray; m: FloatArray; v: FloatArray; n: number;
  lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; bc1: number; bc2: number;
}

export interface Backend {
  readonly name: 'reference' | 'native';

  // ---- data movement ----
  /** Writes value into out[offset, offset+n). */
  fill(out: FloatArray, offset: number, n: number, value: number): void;
  /** Writes dst[dstOffset + flat(idx)] = src[srcOffset + sum(idx[d]*srcStrides[d])] for idx over shape (permute, slice, materialise). */
  copyStrided(src: FloatArray, srcOffset: number, srcStrides: readonly number[], dst: FloatArray, dstOffset: number, shape: readonly number[]): void;
  /** bf16 round-to-nearest-even (NaN stays NaN). Writes dst[0..n). */
  castToBf16(src: FloatArray, dst: Bf16Array, n: number): void;
  castFromBf16(src: Bf16Array, dst: FloatArray, n: number): void;

  // ---- matmul ----
  matmul(args: MatmulArgs): void;
  matmulQuant(args: QuantMatmulArgs): void;
  /** out (rows.length, rowLength) = the values of rows `rows` of a quantised matrix w with rows of rowLength (an embedding lookup). */
  dequantRows(w: Uint8Array, type: QuantDType, rowLength: number, rows: Int32Array, out: Float32Array): void;

  // ---- elementwise ----
  /** out[idx] = a[aOffset + idx·aStrides] op b[bOffset + idx·bStrides] over outShape (stride 0 = broadcast); out contiguous. */
  binary(op: BinaryOp, a: FloatArray, aOffset: number, aStrides: readonly number[], b: FloatArray, bOffset: number, bStrides: readonly number[], out: FloatArray, outShape: readonly number[]): void;
  /** out[i] = f(x[i]) for i < n. out may alias x. */
  unary(op: UnaryOp, x: FloatArray, out: FloatArray, n: number): void;
  /** gx[i] = gy[i] * f'(x[i]) (y = f(x) given for ops that use it). Writes gx. */
  unaryBackward(op: UnaryOp, x: FloatArray, y: FloatArray, gy: FloatArray, gx: FloatArray, n: number): void;
  /** out[i] = x[i]*scale + shift. out may alias x. */
  affine(x: FloatArray, out: FloatArray, n: number, scale: number, shift: number): void;

  // ---- reductions ----
  /** Writes out[0..outSize) = 0, then out[idx·outStrides] += x[flat(idx)] over shape (stride 0 = summed dim). */
  reduceSum(x: FloatArray, shape: readonly number[], out: FloatArray, outStrides: readonly number[], outSize: number): void;
  /** Sum of x[i]^2 for i < n, accumulated in double precision. */
  sumSquares(x: FloatArray, n: number): number;

  // ---- fused layers ----
  /** y[r] = x[r] * rstd[r] * w with rstd[r] = 1/sqrt(mean(x[r]^2) + eps); x, y: (rows, dim); writes y and rstd (rows). */
  rmsnorm(x: FloatArray, w: FloatArray, y: FloatArray, rstd: FloatArray, rows: number, dim: number, eps: number): void;
  /** Writes gx (rows, dim); accumulates gw (dim). */
  rmsnormBackward(x: FloatArray, w: FloatArray, rstd: FloatArray, gy: FloatArray, gx: FloatArray, gw: FloatArray, rows: number, dim: number): void;
  /**
   * Rotary embedding on x (rows, heads, dim): token r rotates by angle positions[r]*invFreq[i] (i < dim/2).
   * interleaved: pairs (2i, 2i+1) (llama2.c/GGUF); otherwise halves (i, i+dim/2) (HF).
   * inverse rotates by the negative angle (the backward). out may alias x.
   */
  rope(x: FloatArray, out: FloatArray, rows: number, heads: number, dim: number, positions: Int32Array, invFreq: Float32Array, interleaved: boolean, inverse: boolean): void;
  /** out = silu(gate) * up, n elements. */
  swiglu(gate: FloatArray, up: FloatArray, out: FloatArray, n: number): void;
  /** Writes ggate and gup. */
  swigluBackward(gate: FloatArray, up: FloatArray, gout: FloatArray, ggate: FloatArray, gup: FloatArray, n: number): void;
  /**
   * Inverted dropout: out[i] = x[i]/(1-p) or 0, the mask a hash of (seed, i) (src/backend/dropout-mask.ts), so the
   * same call regenerates it. out may alias x.
   */
  dropout(x: FloatArray, out: FloatArray, n: number, p: number, seed: number): void;
  /**
   * Row softmax of x (rows, n). With causalQueryLen > 0, row r is query i = r % causalQueryLen and
   * only columns j <= i + causalOffset take part; masked entries of y are 0.
   */
  softmax(x: FloatArray, y: FloatArray, rows: number, n: number, causalQueryLen: number, causalOffset: number): void;
  /** gx = y * (gy - sum(gy*y)) per row. Writes gx. */
  softmaxBackward(y: FloatArray, gy: FloatArray, gx: FloatArray, rows: number, n: number): void;
  attention(args: AttentionArgs): void;
  attentionBackward(args: AttentionBackwardArgs): void;
  /** Forward only: sequences of a decoding batch, each against its own KV cache, in one call. */
  attentionCached(args: CachedAttentionArgs): void;
  /**
   * Per-row log-probability of a target: lse[r] = logsumexp(logits[r]); out[r] = logits[r, t] - lse[r],
   * or 0 (and lse still written) where targets[r] == ignoreIndex. logits (rows, vocab).
   */
  logprobGather(logits: FloatArray, targets: Int32Array, out: FloatArray, lse: FloatArray, rows: number, vocab: number, ignoreIndex: number): void;
  /** glogits[r, j] = gout[r] * (1[j == t] - exp(logits[r, j] - lse[r])); 0 rows where ignored. Writes glogits, which may alias logits. */
  logprobGatherBackward(logits: FloatArray, targets: Int32Array, lse: FloatArray, gout: FloatArray, glogits: FloatArray, rows: number, vocab: number, ignoreIndex: number): void;
  /** out[i] = table[ids[i]] for i < n; table (vocab, dim) may be bf16; out (n, dim). */
  embedding(table: WeightArray, ids: Int32Array, out: FloatArray, n: number, dim: number): void;
  /** gtable[ids[i]] += gout[i] (scatter-add). */
  embeddingBackward(gout: FloatArray, ids: Int32Array, gtable: FloatArray, n: number, dim: number): void;

  // ---- serving ----
  /**
   * Adds each row's own adapter to y (many LoRA adapters in one batch). For group g, the rows rows[offsets[g] ..
   * offsets[g+1]) of x (rows × inF, row-major) and y (rows × outF): y[row] += scales[g] · B_g · (A_g · x[row]), with
   * A_g = a[g] (ranks[g] × inF) and B_g = b[g] (outF × ranks[g]), all f32 row-major; g < a.length. Rows not listed
   * are untouched; a row listed twice gets both. A row's result does not depend on the other rows and groups of the
   * call (a fixed summation order per row). x and y must not overlap.
   */
  loraGroups(x: Float32Array, y: Float32Array, inF: number, outF: number, rows: Int32Array, offsets: Int32Array, a: Float32Array[], b: Float32Array[], ranks: Int32Array, scales: Float32Array): void;

  // ---- optimizer ----
  adamw(args: AdamWArgs): void;
}
