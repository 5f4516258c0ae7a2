// GPTQ (Frantar et al., 2022) into GGUF Q4_0 blocks: weights are quantised one column at a time and each column's
// rounding error is pushed onto the columns not yet quantised, through the inverse of the calibration Gram matrix
// H = E[x·xᵀ], so the layer's output on inputs like the calibration text changes least. The bytes are plain Q4_0.
import { f16ToF32, f32ToF16 } from '../formats/f16.ts';
import { WhetError } from '../errors.ts';

const BLOCK = 32;
const BLOCK_BYTES = 18; // f16 scale d, then 16 bytes of 4-bit levels (value j in the low nibble of byte j, j+16 in the high)
/** Dampening added to H's diagonal, as a share of its mean: keeps H invertible when some inputs never vary. */
const DAMP = 0.1;

/**
 * Quantises W (rows, cols), row-major, to Q4_0. `gram` (cols, cols) is the mean of x·xᵀ over calibration inputs;
 * without it H is the identity, which leaves only the per-block scale search (for the token embedding, read by
 * lookup rather than multiplied).
 */
export function gptqQ4_0(values: Float32Array, rows: number, cols: number, gram?: Float32Array): Uint8Array {
  if (cols % BLOCK !== 0 || values.length !== rows * cols) throw new WhetError(`GPTQ Q4_0: ${values.length} values are not ${rows} rows of a multiple of ${BLOCK}`);
  if (gram !== undefined && gram.length !== cols * cols) throw new WhetError(`GPTQ Q4_0: a calibration matrix of ${gram.length} entries for rows of ${cols}`);
  const u = gram === undefined ? undefined : inverseHessianFactor(gram, cols); // (cols, cols), upper triangular
  const w = Float64Array.from(values); // (rows, cols), updated in place as errors are pushed right
  const out = new Uint8Array(rows * (cols / BLOCK) * BLOCK_BYTES);
  const scales = new Float64Array(rows);
  const levels = new Uint8Array(rows * BLOCK);
  for (let b = 0; b < cols; b += BLOCK) {
    for (let r = 0; r < rows; r++) scales[r] = blockScale(w, r * cols + b);
    for (let j = b; j < b + BLOCK; j++) {
      for (let r = 0; r < rows; r++) {
        const o = r * cols;
        const d = scales[r]!;
        const l = level(w[o + j]!, d);
        levels[r * BLOCK + j - b] = l + 8;
        if (u === undefined) continue;
        const err = (w[o + j]! - d * l) / u[j * cols + j]!;
        for (let k = j + 1; k < cols; k++) w[o + k]! -= err * u[j * cols + k]!;
      }
    }
    for (let r = 0; r < rows; r++) {
      const at = (r * (cols / BLOCK) + b / BLOCK) * BLOCK_BYTES;
      const h = f32ToF16(scales[r]!);
      out[at] = h & 255;
      out[at + 1] = h >> 8;
      for (let j = 0; j < 16; j++) out[at + 2 + j] = levels[r * BLOCK + j]! | (levels[r * BLOCK + j + 16]! << 4);
    }
  }
  return out;
}

function level(x: number, d: number): number {
  return d === 0 ? 0 : Math.max(-8, Math.min(7, Math.round(x / d)));
}

function roundF16(x: number): number {
  return f16ToF32(f32ToF16(x));
}

/**
 * The f16 scale of one block of 32 that minimises its squared error: candidates map the largest magnitude to
 * ±7..±9 levels (both signs, since the levels run −8..7), each refined once by least squares for its levels.
 */
function blockScale(w: Float64Array, o: number): number {
  let max = 0;
  for (let j = 0; j < BLOCK; j++) if (Math.abs(w[o + j]!) > Math.abs(max)) max = w[o + j]!;
  if (max === 0) return 0;
  let best = 0;
  let bestErr = Infinity;
  for (let step = 0; step <= 10; step++) {
    for (const sign of [-1, 1]) {
      let d = (sign * max) / (7 + 0.2 * step);
      let xl = 0;
      let ll = 0;
      for (let j = 0; j < BLOCK; j++) {
        const l = level(w[o + j]!, d);
        xl += w[o + j]! * l;
        ll += l * l;
      }
      if (ll > 0) d = xl / ll;
      d = roundF16(d);
      let err = 0;
      for (let j = 0; j < BLOCK; j++) err += (w[o + j]! - d * level(w[o + j]!, d)) ** 2;
      if (err < bestErr) {
        bestErr = err;
        best = d;
      }
    }
  }
  return best;
}

// Layers that share an input (q/k/v, gate/up) share a Gram matrix, and so its factor.
const factors = new WeakMap<Float32Array, Float64Array>();

/** U upper triangular with (H + damp)⁻¹ = Uᵀ·U (the Cholesky factor GPTQ walks row by row). */
function inverseHessianFactor(gram: Float32Array, n: number): Float64Array {
  const known = factors.get(gram);
  if (known !== undefined) return known;
  const h = Float64Array.from(gram);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += h[i * n + i]!;
  mean /= n;
  for (let i = 0; i < n; i++) h[i * n + i]! += DAMP * mean + 1e-12;
  const inv = choleskyInverse(cholesky(h, n), n);
  const l = cholesky(inv, n); // inv = L·Lᵀ, so U = Lᵀ
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) u[i * n + j] = l[j * n + i]!;
  factors.set(gram, u);
  return u;
}

/** Lower-triangular L with a = L·Lᵀ (a symmetric positive definite, n×n). */
function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      if (i === j) {
        if (!(s > 0)) throw new WhetError('GPTQ: the calibration matrix is not positive definite');
        l[i * n + i] = Math.sqrt(s);
      } else l[i * n + j] = s / l[j * n + j]!;
    }
  }
  return l;
}

/** (L·Lᵀ)⁻¹ = L⁻ᵀ·L⁻¹ from the Cholesky factor L. */
function choleskyInverse(l: Float64Array, n: number): Float64Array {
  const li = new Float64Array(n * n); // L⁻¹, lower triangular
  for (let i = 0; i < n; i++) {
    li[i * n + i] = 1 / l[i * n + i]!;
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let k = j; k < i; k++) s -= l[i * n + k]! * li[k * n + j]!;
      li[i * n + j] = s / l[i * n + i]!;
    }
  }
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < n; k++) s += li[k * n + i]! * li[k * n + j]!;
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}
