// GGUF's quantised block formats (Q8_0, Q4_0, Q4_K, Q6_K), laid out byte for byte as ggml-common.h, with ggml's
// dequantisers and a faithful port of its reference quantisers (quantize_row_*_ref: round to nearest for Q8_0/Q4_0,
// make_qkx2_quants for Q4_K and make_qx_quants for Q6_K, without an importance matrix), in float32 arithmetic.
import { WhetError } from '../errors.ts';
import { decodeF16, f16ToF32, f32ToF16 } from './f16.ts';

export type QuantType = 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q6_K';

/** ggml type id, values per block and bytes per block of each type. */
export const QUANT_TYPES: Record<QuantType, { id: number; block: number; bytes: number }> = {
  Q8_0: { id: 8, block: 32, bytes: 34 }, // { f16 d; i8 qs[32] }
  Q4_0: { id: 2, block: 32, bytes: 18 }, // { f16 d; u8 qs[16] }
  Q4_K: { id: 12, block: 256, bytes: 144 }, // { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }
  Q6_K: { id: 14, block: 256, bytes: 210 }, // { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }
};

export function isQuantType(t: string): t is QuantType {
  return Object.hasOwn(QUANT_TYPES, t);
}

// llama.cpp quantises a matrix whose rows do not split into 256-value k-quant blocks with a 32-value type instead
// (Q4_K → Q5_0, Q6_K → Q8_0); Whetstone has no Q5_0, so Q4_K falls back to Q4_0.
const ROW_FALLBACK: Record<QuantType, QuantType[]> = { Q8_0: [], Q4_0: [], Q4_K: ['Q4_0'], Q6_K: ['Q8_0'] };

/** The type a matrix with rows of rowLength gets when `type` is asked for: it, its fallback, or undefined when no block fits. */
export function quantTypeForRows(type: QuantType, rowLength: number): QuantType | undefined {
  return [type, ...ROW_FALLBACK[type]].find((t) => rowLength % QUANT_TYPES[t].block === 0);
}

/** Bytes of one row of rowLength values; a WhetError unless rowLength is a positive multiple of the block. */
export function quantRowBytes(type: QuantType, rowLength: number): number {
  const { block, bytes } = QUANT_TYPES[type];
  if (!Number.isSafeInteger(rowLength) || rowLength <= 0 || rowLength % block !== 0) {
    throw new WhetError(`${type}: row length ${rowLength} is not a multiple of the block size ${block}`);
  }
  return (rowLength / block) * bytes;
}

// ---------------------------------------------------------------------------------------------- dequantisation

/** Little-endian f16 bytes → float32 values. */
export function dequantizeF16(bytes: Uint8Array): Float32Array {
  const bits = new Uint16Array(bytes.length >>> 1);
  new Uint8Array(bits.buffer).set(bytes.subarray(0, bits.length * 2));
  return decodeF16(bits);
}

/** Q8_0 blocks → float32 values (a whole number of 34-byte blocks; a trailing partial block is ignored). */
export function dequantizeQ8_0(bytes: Uint8Array): Float32Array {
  const n = Math.floor(bytes.length / QUANT_TYPES.Q8_0.bytes) * QUANT_TYPES.Q8_0.block;
  return dequantize('Q8_0', bytes.subarray(0, (n / 32) * 34), n);
}

/** `elements` values from whole blocks of `type`; bytes.length must be exactly elements / block · bytes. */
export function dequantize(type: QuantType, bytes: Uint8Array, elements: number): Float32Array {
  const out = new Float32Array(elements);
  dequantizeInto(type, bytes, elements, out, 0);
  return out;
}

/** As dequantize, into out from element `at` (no allocation: a decoder of rows into one buffer). */
export function dequantizeInto(type: QuantType, bytes: Uint8Array, elements: number, out: Float32Array, at: number): void {
  const { block, bytes: blockBytes } = QUANT_TYPES[type];
  if (!Number.isSafeInteger(elements) || elements < 0 || elements % block !== 0) {
    throw new WhetError(`${type}: ${elements} values are not a whole number of ${block}-value blocks`);
  }
  const expected = (elements / block) * blockBytes;
  if (bytes.length !== expected) {
    throw new WhetError(`${type}: ${elements} values take ${expected} bytes, got ${bytes.length}`);
  }
  if (at < 0 || at + elements > out.length) throw new RangeError(`${type}: ${elements} values do not fit at ${at} of ${out.length}`);
  const nBlocks = elements / block;
  switch (type) {
    case 'Q8_0': for (let b = 0; b < nBlocks; b++) dequantQ8_0(bytes, b * 34, out, at + b * 32); break;
    case 'Q4_0': for (let b = 0; b < nBlocks; b++) dequantQ4_0(bytes, b * 18, out, at + b * 32); break;
    case 'Q4_K': for (let b = 0; b < nBlocks; b++) dequantQ4_K(bytes, b * 144, out, at + b * 256); break;
    case 'Q6_K': for (let b = 0; b < nBlocks; b++) dequantQ6_K(bytes, b * 210, out, at + b * 256); break;
  }
}

const half = (b: Uint8Array, at: number): number => f16ToF32(b[at] | (b[at + 1] << 8));

// Every product below is exact in float32 (f16 × small integers) except Q6_K's d·scale·q, which float32 rounds
// once, as ggml does; storing into a Float32Array performs that rounding.

function dequantQ8_0(b: Uint8Array, at: number, y: Float32Array, o: number): void {
  const d = half(b, at);
  for (let j = 0; j < 32; j++) y[o + j] = d * ((b[at + 2 + j] << 24) >> 24);
}

function dequantQ4_0(b: Uint8Array, at: number, y: Float32Array, o: number): void {
  const d = half(b, at);
  for (let j = 0; j < 16; j++) {
    const q = b[at + 2 + j];
    y[o + j] = ((q & 15) - 8) * d;
    y[o + j + 16] = ((q >> 4) - 8) * d;
  }
}

/** ggml's get_scale_min_k4: the 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes at `s`. */
function scaleMinK4(j: number, b: Uint8Array, s: number): [number, number] {
  if (j < 4) return [b[s + j] & 63, b[s + j + 4] & 63];
  return [(b[s + j + 4] & 15) | ((b[s + j - 4] >> 6) << 4), (b[s + j + 4] >> 4) | ((b[s + j] >> 6) << 4)];
}

function dequantQ4_K(b: Uint8Array, at: number, y: Float32Array, o: number): void {
  const d = half(b, at);
  const dmin = half(b, at + 2);
  for (let j = 0; j < 4; j++) {
    const [sc1, m1] = scaleMinK4(2 * j, b, at + 4);
    const [sc2, m2] = scaleMinK4(2 * j + 1, b, at + 4);
    const d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2;
    const q = at + 16 + 32 * j;
    const yo = o + 64 * j;
    for (let l = 0; l < 32; l++) {
      y[yo + l] = d1 * (b[q + l] & 15) - min1;
      y[yo + 32 + l] = d2 * (b[q + l] >> 4) - min2;
    }
  }
}

function dequantQ6_K(b: Uint8Array, at: number, y: Float32Array, o: number): void {
  const d = half(b, at + 208);
  const sc = (i: number): number => (b[at + 192 + i] << 24) >> 24;
  for (let n = 0; n < 2; n++) {
    const ql = at + 64 * n;
    const qh = at + 128 + 32 * n;
    const yo = o + 128 * n;
    for (let l = 0; l < 32; l++) {
      const is = 8 * n + (l >> 4);
      const h = b[qh + l];
      const q1 = ((b[ql + l] & 15) | ((h & 3) << 4)) - 32;
      const q2 = ((b[ql + l + 32] & 15) | (((h >> 2) & 3) << 4)) - 32;
      const q3 = ((b[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
      const q4 = ((b[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
      y[yo + l] = d * sc(is) * q1;
      y[yo + l + 32] = d * sc(is + 2) * q2;
      y[yo + l + 64] = d * sc(is + 4) * q3;
      y[yo + l + 96] = d * sc(is + 6) * q4;
    }
  }
}

// ---------------------------------------------------------------------------------------------- quantisation

/**
 * Quantises rows of `rowLength` values (values.length a multiple of it, rowLength a multiple of the block) into
 * whole blocks, row after row; blocks never span rows, so the bytes are those of ggml's quantize_row_*_ref.
 * (Calibrated Q4_0 comes from GPTQ instead: model/gptq.ts.)
 */
export function quantize(type: QuantType, values: Float32Array, rowLength: number): Uint8Array {
  const rowBytes = quantRowBytes(type, rowLength);
  if (values.length % rowLength !== 0) {
    throw new WhetError(`${type}: ${values.length} values are not a whole number of rows of ${rowLength}`);
  }
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new WhetError(`${type}: value ${i} (row ${Math.floor(i / rowLength)}) is ${values[i]}, which cannot be quantised`);
  }
  const { block, bytes } = QUANT_TYPES[type];
  const nBlocks = values.length / block;
  const out = new Uint8Array((values.length / rowLength) * rowBytes);
  switch (type) {
    case 'Q8_0': for (let b = 0; b < nBlocks; b++) quantQ8_0(values, b * block, out, b * bytes); break;
    case 'Q4_0': for (let b = 0; b < nBlocks; b++) quantQ4_0(values, b * block, out, b * bytes); break;
    case 'Q4_K': for (let b = 0; b < nBlocks; b++) quantQ4_K(values, b * block, out, b * bytes); break;
    case 'Q6_K': for (let b = 0; b < nBlocks; b++) quantQ6_K(values, b * block, out, b * bytes); break;
  }
  return out;
}

// Float32 arithmetic as C does it (no fused multiply-add): every operation is rounded with fround.
const f = Math.fround;
const GROUP_MAX_EPS = f(1e-15);

function putHalf(out: Uint8Array, at: number, x: number): void {
  const h = f32ToF16(x);
  out[at] = h & 255;
  out[at + 1] = h >> 8;
}

/** ggml's nearest_int: round half to even (the float32 magic-number trick), for |x| ≤ 2^22. */
function nearestInt(x: number): number {
  return f(x + 12582912) - 12582912;
}

// quantize_row_q8_0_ref
function quantQ8_0(x: Float32Array, xo: number, out: Uint8Array, at: number): void {
  let amax = 0;
  for (let j = 0; j < 32; j++) {
    const a = Math.abs(x[xo + j]);
    if (a > amax) amax = a;
  }
  const d = f(amax / 127);
  const id = d ? f(1 / d) : 0;
  putHalf(out, at, d);
  for (let j = 0; j < 32; j++) {
    const v = f(x[xo + j] * id);
    // C's roundf (halves away from zero): v is a float32 of magnitude ≤ 127, so v ± 0.5 is exact before truncation.
    out[at + 2 + j] = ((v < 0 ? v - 0.5 : v + 0.5) | 0) & 255;
  }
}

// quantize_row_q4_0_ref: the scale comes from the signed value of largest magnitude, mapped to -8.
function quantQ4_0(x: Float32Array, xo: number, out: Uint8Array, at: number): void {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < 32; j++) {
    const v = x[xo + j];
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  const d = f(max / -8);
  const id = d ? f(1 / d) : 0;
  putHalf(out, at, d);
  for (let j = 0; j < 16; j++) {
    const x0 = f(x[xo + j] * id);
    const x1 = f(x[xo + 16 + j] * id);
    const q0 = Math.min(15, Math.trunc(f(x0 + 8.5)));
    const q1 = Math.min(15, Math.trunc(f(x1 + 8.5)));
    out[at + 2 + j] = q0 | (q1 << 4);
  }
}

// Scratch for the k-quants (one block at a time; nothing is allocated per block).
const L = new Uint8Array(256);
const Laux = new Uint8Array(32);
const xMinusMin = new Float32Array(32); // float32 x[i] − min, as ggml computes it inside its loops
const weights = new Float32Array(32);
const scales = new Float32Array(16);
const mins = new Float32Array(8);
const packed = new Uint8Array(12);

/**
 * ggml's make_qkx2_quants (use_mad = false): levels L[lo..lo+n) in 0..nmax and a scale and min (returned via
 * `qkxMin`) minimising the weighted squared error of scale·L − min, searching nstep+1 scales around nmax/(max − min).
 */
let qkxMin = 0;
function makeQkx2Quants(n: number, nmax: number, x: Float32Array, xo: number, w: Float32Array, lo: number, rmin: number, rdelta: number, nstep: number): number {
  let min = x[xo];
  let max = x[xo];
  let sumW = w[0];
  let sumX = f(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    sumW = f(sumW + w[i]);
    sumX = f(sumX + f(w[i] * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    qkxMin = -min;
    return 0;
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) xMinusMin[i] = x[xo + i] - min;
  for (let i = 0; i < n; i++) {
    const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * xMinusMin[i]))));
    L[lo + i] = l;
    const diff = f(f(f(scale * l) + min) - x[xo + i]);
    bestError = f(bestError + f(w[i] * f(diff * diff)));
  }
  for (let is = 0; is <= nstep; is++) {
    // As in ggml, the search continues from the best min so far: (max − min) changes after each improvement.
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * xMinusMin[i]))));
      Laux[i] = l;
      const wl = f(w[i] * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * xi));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        const diff = f(f(f(thisScale * Laux[i]) + thisMin) - x[xo + i]);
        curError = f(curError + f(w[i] * f(diff * diff)));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i];
        bestError = curError;
        scale = thisScale;
        min = thisMin;
        for (let i = 0; i < n; i++) xMinusMin[i] = x[xo + i] - min;
      }
    }
  }
  qkxMin = -min;
  return scale;
}

// quantize_row_q4_K_ref: 8 sub-blocks of 32 with a 6-bit scale and min each, relative to f16 d and dmin.
function quantQ4_K(x: Float32Array, xo: number, out: Uint8Array, at: number): void {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const s = xo + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(x[s + l] * x[s + l]));
    const avX = f(Math.sqrt(f(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = avX + Math.abs(x[s + l]);
    scales[j] = makeQkx2Quants(32, 15, x, s, weights, 32 * j, -1, f(0.1), 20);
    mins[j] = qkxMin;
    if (scales[j] > maxScale) maxScale = scales[j];
    if (mins[j] > maxMin) maxMin = mins[j];
  }
  const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
  packed.fill(0);
  for (let j = 0; j < 8; j++) {
    const ls = Math.min(63, nearestInt(f(invScale * scales[j])) & 255);
    const lm = Math.min(63, nearestInt(f(invMin * mins[j])) & 255);
    if (j < 4) {
      packed[j] = ls;
      packed[j + 4] = lm;
    } else {
      packed[j + 4] = (ls & 15) | ((lm & 15) << 4);
      packed[j - 4] |= (ls >> 4) << 6;
      packed[j] |= (lm >> 4) << 6;
    }
  }
  putHalf(out, at, f(maxScale / 63));
  putHalf(out, at + 2, f(maxMin / 63));
  out.set(packed, at + 4);
  const d = half(out, at);
  const dmin = half(out, at + 2);
  for (let j = 0; j < 8; j++) {
    const [sc, m] = scaleMinK4(j, packed, 0);
    const dj = f(d * sc);
    if (!dj) continue; // keeps make_qkx2_quants' levels, as ggml does
    const dm = f(dmin * m);
    for (let ii = 0; ii < 32; ii++) {
      L[32 * j + ii] = Math.max(0, Math.min(15, nearestInt(f(f(x[xo + 32 * j + ii] + dm) / dj))));
    }
  }
  const q = at + 16;
  for (let j = 0; j < 256; j += 64) {
    for (let l = 0; l < 32; l++) out[q + j / 2 + l] = L[j + l] | (L[j + l + 32] << 4);
  }
}

/**
 * ggml's make_qx_quants with rmse_type 1: signed levels in −nmax..nmax−1 (stored in L offset by nmax) and the
 * scale that minimises the squared error weighted by x² over 19 candidate scales.
 */
function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, lo: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i];
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = f(-nmax / max);
  let sumLX = 0;
  let sumL2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * xi))));
    L[lo + i] = l + nmax;
    const w = f(xi * xi);
    sumLX = f(sumLX + f(f(w * xi) * l));
    sumL2 = f(sumL2 + f(f(w * l) * l));
  }
  let scale = sumL2 ? f(sumLX / sumL2) : 0;
  let best = f(scale * sumLX);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(f(0.1) * is)) / max);
    sumLX = 0;
    sumL2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * xi))));
      const w = f(xi * xi);
      sumLX = f(sumLX + f(f(w * xi) * l));
      sumL2 = f(sumL2 + f(f(w * l) * l));
    }
    if (sumL2 > 0 && f(sumLX * sumLX) > f(best * sumL2)) {
      for (let i = 0; i < n; i++) {
        L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * x[xo + i]))));
      }
      scale = f(sumLX / sumL2);
      best = f(scale * sumLX);
    }
  }
  return scale;
}

// quantize_row_q6_K_ref: 16 sub-blocks of 16 with a signed 8-bit scale each, relative to an f16 d.
function quantQ6_K(x: Float32Array, xo: number, out: Uint8Array, at: number): void {
  let maxScale = 0;
  let maxAbsScale = 0;
  for (let ib = 0; ib < 16; ib++) {
    const scale = makeQxQuants(16, 32, x, xo + 16 * ib, 16 * ib);
    scales[ib] = scale;
    if (Math.abs(scale) > maxAbsScale) {
      maxAbsScale = Math.abs(scale);
      maxScale = scale;
    }
  }
  if (maxAbsScale < GROUP_MAX_EPS) {
    out.fill(0, at, at + 210);
    return;
  }
  const iscale = f(-128 / maxScale);
  putHalf(out, at + 208, f(1 / iscale));
  for (let ib = 0; ib < 16; ib++) out[at + 192 + ib] = Math.min(127, nearestInt(f(iscale * scales[ib]))) & 255;
  const d = half(out, at + 208);
  for (let j = 0; j < 16; j++) {
    const dj = f(d * ((out[at + 192 + j] << 24) >> 24));
    if (!dj) continue;
    for (let ii = 0; ii < 16; ii++) {
      L[16 * j + ii] = Math.max(-32, Math.min(31, nearestInt(f(x[xo + 16 * j + ii] / dj)))) + 32;
    }
  }
  for (let n = 0; n < 2; n++) {
    const j = 128 * n;
    const ql = at + 64 * n;
    const qh = at + 128 + 32 * n;
    for (let l = 0; l < 32; l++) {
      const a = L[j + l], b = L[j + l + 32], c = L[j + l + 64], e = L[j + l + 96];
      out[ql + l] = (a & 15) | ((c & 15) << 4);
      out[ql + l + 32] = (b & 15) | ((e & 15) << 4);
      out[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
    }
  }
}
