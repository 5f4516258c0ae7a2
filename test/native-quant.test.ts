// Checks the addon's quantised products (qgemm) and row lookups (dequantRows) over GGUF blocks (Q8_0, Q4_0, Q4_K,
// Q6_K) against "dequantise with the TypeScript reference, then multiply in float64", on every ISA the CPU has, at
// 1 and 2 threads, plus the argument checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAddon } from '../src/backend/addon.ts';
import { dequantize, quantize, QUANT_TYPES, type QuantType } from '../src/formats/gguf-quant.ts';
import { rng } from './helpers/random.ts';

const addon = loadAddon();
const skip = addon === null ? 'the native addon is not built' : false;
const TYPES: QuantType[] = ['Q8_0', 'Q4_0', 'Q4_K', 'Q6_K'];
/** m at or below this with W stored n × k takes the int8 path (A quantised to int8: see assertClose). */
const INT8_MAX_M = 16;

const rand = rng(11);
function normals(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return out;
}

/**
 * rows × len quantised from normal values, then a few blocks overwritten with extremes: zero scales, the largest
 * quants and scales, f16 subnormal and large scales (blocks stay valid: no infinite or NaN scale).
 */
function makeMatrix(type: QuantType, rows: number, len: number): Uint8Array {
  const { block, bytes } = QUANT_TYPES[type];
  const w = quantize(type, normals(rows * len), len);
  const nBlocks = (rows * len) / block;
  const setHalf = (at: number, h: number): void => {
    w[at] = h & 255;
    w[at + 1] = h >> 8;
  };
  for (let b = 0; b < nBlocks; b += 7) {
    const at = b * bytes;
    const kind = (b / 7) % 4;
    switch (type) {
      case 'Q8_0':
        if (kind === 0) setHalf(at, 0);
        if (kind === 1) for (let j = 0; j < 32; j++) w[at + 2 + j] = j % 2 ? 0x80 : 0x7f; // -128 and 127
        if (kind === 2) setHalf(at, 0x0001); // smallest subnormal
        if (kind === 3) setHalf(at, 0x5bff); // 255.9
        break;
      case 'Q4_0':
        if (kind === 0) setHalf(at, 0);
        if (kind === 1) for (let j = 0; j < 16; j++) w[at + 2 + j] = j % 2 ? 0xff : 0x00; // nibbles 15 and 0
        if (kind === 2) setHalf(at, 0x03ff); // largest subnormal
        if (kind === 3) setHalf(at, 0xdbff); // -255.9
        break;
      case 'Q4_K':
        if (kind === 0) w.fill(0, at + 4, at + 16); // all scales and mins 0
        if (kind === 1) w.fill(0xff, at + 4, at + 144); // scales, mins 63; quants 15
        if (kind === 2) setHalf(at + 2, 0); // dmin 0
        if (kind === 3) { setHalf(at, 0x5bff); setHalf(at + 2, 0x0001); }
        break;
      case 'Q6_K':
        if (kind === 0) w.fill(0, at + 192, at + 208); // all scales 0
        if (kind === 1) { w.fill(0xff, at, at + 192); w.fill(0x80, at + 192, at + 200); w.fill(0x7f, at + 200, at + 208); }
        if (kind === 2) w.fill(0, at, at + 192); // every quant -32
        if (kind === 3) setHalf(at + 208, 0x8001); // negative subnormal d
        break;
    }
  }
  return w;
}

interface Case { type: QuantType; m: number; n: number; k: number; transW: boolean }

/** C(m×n) = A·op(W) in float64, with W the TypeScript dequantisation; also Σ|a·w| per output for tolerances. */
function reference(c: Case, a: Float32Array, wf: Float32Array): { out: Float64Array; mag: Float64Array; qerr: Float64Array } {
  const { m, n, k, transW } = c;
  const out = new Float64Array(m * n), mag = new Float64Array(m * n), qerr = new Float64Array(m * n);
  // Half a quantisation step of A per element: max |a| of its block / 127 / 2 (blocks of 32 or 256 along k).
  const blk = QUANT_TYPES[c.type].block;
  const step = new Float64Array(m * k);
  for (let i = 0; i < m; i++) {
    for (let b0 = 0; b0 < k; b0 += blk) {
      let amax = 0;
      for (let p = b0; p < Math.min(k, b0 + blk); p++) amax = Math.max(amax, Math.abs(a[i * k + p]));
      for (let p = b0; p < Math.min(k, b0 + blk); p++) step[i * k + p] = amax / 127 / 2;
    }
  }
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0, g = 0, e = 0;
      for (let p = 0; p < k; p++) {
        const w = transW ? wf[j * k + p] : wf[p * n + j];
        const x = a[i * k + p];
        s += x * w;
        g += Math.abs(x * w);
        e += Math.abs(w) * step[i * k + p];
      }
      out[i * n + j] = s;
      mag[i * n + j] = g;
      qerr[i * n + j] = e;
    }
  }
  return { out, mag, qerr };
}

/**
 * The int8 path rounds each element of A to its block's step d = max|a|/127, so each output may be off by up to
 * Σ_p |w_p|·d_p/2 (qerr), plus float rounding of the scaled integer sums (1e-5 of Σ|a·w|). Every other path
 * multiplies the dequantised floats: 1e-5 of Σ|a·w| (fp32 sums of up to ~800 products).
 */
function assertClose(got: Float32Array, c0: Float32Array | null, off: number, ref: ReturnType<typeof reference>, int8: boolean, what: string): void {
  for (let i = 0; i < ref.out.length; i++) {
    const base = c0 === null ? 0 : c0[off + i];
    const want = base + ref.out[i];
    const tol = (int8 ? ref.qerr[i] * 1.0001 : 0) + 1e-5 * (ref.mag[i] + Math.abs(base)) + 1e-30;
    const e = Math.abs(got[off + i] - want);
    if (!(e <= tol)) assert.fail(`${what}: element ${i} is ${got[off + i]}, expected ${want} (error ${e}, tolerance ${tol})`);
  }
}

function withEachIsa(fn: (isa: string, threads: number) => void): void {
  const startIsa = addon!.isa();
  const startThreads = addon!.numThreads();
  const isas = ['avx512', 'avx2', 'scalar'].filter((isa) => addon!.setIsa(isa));
  assert.ok(isas.includes('scalar'));
  try {
    for (const isa of isas) {
      addon!.setIsa(isa);
      for (const threads of [1, 2]) {
        addon!.setThreads(threads);
        fn(isa, threads);
      }
    }
  } finally {
    addon!.setIsa(startIsa);
    addon!.setThreads(startThreads);
  }
}

// Odd sizes on both sides of the int8 path's limit (m ≤ 16, W stored n × k) and of the axpy path's (m ≤ 2, W stored
// k × n); W's rows are whole blocks.
const MS = [1, 2, 3, 16, 17, 70];
const OTHER = [1, 5, 33, 130]; // n for W stored n × k, k for W stored k × n
for (const type of TYPES) {
  test(`qgemm ${type} matches dequantise-then-multiply on every ISA, thread count and orientation`, { skip }, () => {
    const { block, id } = QUANT_TYPES[type];
    // One matrix per row length, 130 rows: a case uses its first rows.
    const lens = block === 32 ? [32, 96, 160] : [256, 512, 768];
    const mats = new Map(lens.map((len) => [len, makeMatrix(type, 130, len)]));
    const deq = new Map(lens.map((len) => [len, dequantize(type, mats.get(len)!, 130 * len)]));
    const rowBytes = (len: number): number => (len / block) * QUANT_TYPES[type].bytes;
    const cases: Case[] = [];
    for (const m of MS) {
      for (const [oi, other] of OTHER.entries()) {
        const len = lens[(m + oi) % lens.length];
        cases.push({ type, m, n: other, k: len, transW: true });
        cases.push({ type, m, n: len, k: other, transW: false });
      }
    }
    for (const c of cases) {
      const len = c.transW ? c.k : c.n, rows = c.transW ? c.n : c.k;
      const w = mats.get(len)!.subarray(0, rows * rowBytes(len));
      const wf = deq.get(len)!.subarray(0, rows * len);
      const aOff = c.m % 3, cOff = (c.n + 1) % 4;
      const a = normals(aOff + c.m * c.k);
      const ref = reference(c, a.subarray(aOff), wf);
      const c0 = normals(cOff + c.m * c.n + 3);
      const int8 = c.transW && c.m <= INT8_MAX_M;
      withEachIsa((isa, threads) => {
        for (const accumulate of [false, true]) {
          const out = Float32Array.from(c0);
          addon!.qgemm(a, aOff, w, id, c.transW, out, cOff, c.m, c.n, c.k, accumulate);
          const what = `${type} m=${c.m} n=${c.n} k=${c.k} ${c.transW ? 'A·Wᵀ' : 'A·W'}${accumulate ? ' accumulate' : ''} on ${isa} × ${threads}`;
          assertClose(out, accumulate ? c0 : null, cOff, ref, int8, what);
          for (let i = 0; i < cOff; i++) assert.equal(out[i], c0[i], `${what}: C before cOffset untouched`);
          for (let i = cOff + c.m * c.n; i < out.length; i++) assert.equal(out[i], c0[i], `${what}: C past the product untouched`);
        }
      });
    }
  });
}

// Random bytes (with sane f16 scales) are valid blocks: enough to cover the large-m path's slabs of W (a thread
// decodes at most 2^19 floats per GEMM call: these need several, and scratch tiles) without quantising millions of
// values in TypeScript.
function randomBlocks(type: QuantType, rows: number, len: number): Uint8Array {
  const { block, bytes } = QUANT_TYPES[type];
  const w = new Uint8Array((rows * len / block) * bytes);
  for (let i = 0; i < w.length; i++) w[i] = (rand() * 256) | 0;
  const scales = type === 'Q6_K' ? [208] : type === 'Q4_K' ? [0, 2] : [0];
  for (let at = 0; at < w.length; at += bytes) for (const s of scales) { w[at + s] = (rand() * 256) | 0; w[at + s + 1] = 0x20 + ((rand() * 8) | 0); }
  return w;
}

test('qgemm splits products larger than one slab of decoded W (both orientations)', { skip }, () => {
  for (const type of ['Q8_0', 'Q4_K'] as QuantType[]) {
    const { id } = QUANT_TYPES[type];
    for (const transW of [true, false]) {
      const c: Case = transW ? { type, m: 19, n: 4110, k: 512 } as Case : { type, m: 18, n: 512, k: 4103 } as Case;
      c.transW = transW;
      const rows = transW ? c.n : c.k, len = transW ? c.k : c.n;
      const w = randomBlocks(type, rows, len);
      const wf = dequantize(type, w, rows * len);
      const a = normals(c.m * c.k);
      const ref = reference(c, a, wf);
      const c0 = normals(c.m * c.n);
      for (const accumulate of [false, true]) {
        const out = Float32Array.from(c0);
        addon!.qgemm(a, 0, w, id, transW, out, 0, c.m, c.n, c.k, accumulate);
        assertClose(out, accumulate ? c0 : null, 0, ref, false, `${type} ${c.m}×${c.n}×${c.k} transW=${transW} accumulate=${accumulate}`);
      }
    }
  }
});

test('qgemm with k = 0 writes zeros, or leaves C as it was when accumulating', { skip }, () => {
  const c = Float32Array.from([1, 2, 3, 4, 5, 6]);
  addon!.qgemm(new Float32Array(0), 0, new Uint8Array(0), 8, true, c, 0, 2, 3, 0, true);
  assert.deepEqual([...c], [1, 2, 3, 4, 5, 6]);
  addon!.qgemm(new Float32Array(0), 0, new Uint8Array(0), 8, true, c, 0, 2, 3, 0, false);
  assert.deepEqual([...c], [0, 0, 0, 0, 0, 0]);
});

test('dequantRows equals the TypeScript dequantisation bit for bit, on every ISA', { skip }, () => {
  for (const type of TYPES) {
    const { block, id } = QUANT_TYPES[type];
    const len = 3 * block, rows = 40;
    const w = makeMatrix(type, rows, len);
    const wf = dequantize(type, w, rows * len);
    const pick = Int32Array.from([0, 39, 7, 7, 13, 1, 28, 35, 14, 21, 0, 2]);
    withEachIsa((isa, threads) => {
      const out = new Float32Array(pick.length * len + 5).fill(-7);
      addon!.dequantRows(w, id, len, pick, out);
      for (let i = 0; i < pick.length; i++) {
        for (let j = 0; j < len; j++) {
          const want = wf[pick[i] * len + j];
          if (!Object.is(out[i * len + j], want)) {
            assert.fail(`${type} on ${isa} × ${threads}: row ${pick[i]} element ${j} is ${out[i * len + j]}, expected ${want}`);
          }
        }
      }
      for (let i = pick.length * len; i < out.length; i++) assert.equal(out[i], -7, 'out past the rows untouched');
    });
    // A big lookup (threaded) against the same rows.
    const many = Int32Array.from({ length: 3000 }, (_, i) => (i * 17) % rows);
    const out = new Float32Array(many.length * len);
    addon!.dequantRows(w, id, len, many, out);
    for (let i = 0; i < many.length; i += 97) {
      assert.deepEqual(out.subarray(i * len, (i + 1) * len), wf.subarray(many[i] * len, (many[i] + 1) * len));
    }
  }
});

test('qgemm and dequantRows reject bad arguments with a TypeError', { skip }, () => {
  const w = randomBlocks('Q8_0', 4, 64); // 4 rows of 64: 272 bytes
  const a = new Float32Array(2 * 64), c = new Float32Array(2 * 4);
  const good: unknown[] = [a, 0, w, 8, true, c, 0, 2, 4, 64, false];
  addon!.qgemm(...good);
  const bad: Array<[number, unknown, RegExp]> = [
    [2, w.subarray(1), /w has 271 bytes but a Q8_0 matrix of 4 rows of 64 takes 272/],
    [2, new Uint8Array(273), /w has 273 bytes/],
    [3, 7, /unknown wType 7/],
    [3, 12, /k \(64\) must be a multiple of the Q4_K block \(256\)/],
    [9, 48, /k \(48\) must be a multiple of the Q8_0 block \(32\)/],
    [4, false, /n \(4\) must be a multiple of the Q8_0 block/],
    [0, a.subarray(1), /a \(from aOffset\) has 127 elements but 128 are needed/],
    [1, 1, /a \(from aOffset\)/],
    [5, c.subarray(1), /c \(from cOffset\)/],
    [6, 1, /c \(from cOffset\)/],
    [7, 3, /w has|a \(from aOffset\)|c \(from cOffset\)/],
    [2, new Int8Array(272), /w must be a Uint8Array/],
    [0, new Float64Array(128), /a must be a Float32Array/],
    [4, 1, /transW must be a boolean/],
    [9, 2.5, /k must be an integer/],
    [7, -1, /m must be an integer/],
  ];
  for (const [i, value, message] of bad) {
    const args = [...good];
    args[i] = value;
    assert.throws(() => addon!.qgemm(...args), (e: unknown) => e instanceof TypeError && message.test(e.message), `argument ${i} = ${String(value)}`);
  }
  assert.throws(() => addon!.qgemm(a, 0, w, 8, true, c, 0, 2, 4, 64), /expected 11 arguments/);

  const out = new Float32Array(2 * 64);
  addon!.dequantRows(w, 8, 64, Int32Array.from([3, 0]), out);
  const badRows: Array<[number, unknown, RegExp]> = [
    [0, w.subarray(0, 100), /w has 100 bytes, not a whole number of Q8_0 rows of 64 \(68 bytes each\)/],
    [1, 3, /unknown wType 3/],
    [2, 48, /rowLength \(48\) must be a positive multiple of the Q8_0 block \(32\)/],
    [2, 0, /rowLength \(0\)/],
    [3, Int32Array.from([4, 0]), /rows\[0\] = 4 is outside the 4 rows of w/],
    [3, Int32Array.from([0, -1]), /rows\[1\] = -1 is outside/],
    [4, new Float32Array(127), /out has 127 elements but 128 are needed/],
    [3, [0, 1], /rows must be an Int32Array/],
  ];
  for (const [i, value, message] of badRows) {
    const args: unknown[] = [w, 8, 64, Int32Array.from([3, 0]), out];
    args[i] = value;
    assert.throws(() => addon!.dequantRows(...args), (e: unknown) => e instanceof TypeError && message.test(e.message), `argument ${i} = ${String(value)}`);
  }
});
