// Checks every native non-GEMM kernel against the reference backend on each ISA the CPU has, plus the bounds checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAddon } from '../src/backend/addon.ts';
import { nativeKernels } from '../src/backend/native-kernels.ts';
import { referenceBackend as R } from '../src/backend/reference.ts';
import type { BinaryOp, UnaryOp } from '../src/backend/backend.ts';
import { rng } from './helpers/random.ts';

const addon = loadAddon();
const skip = addon === null ? 'the native addon is not built' : false;
const N = addon === null ? null : nativeKernels(addon);

// ---- helpers ----
const rand = rng(2024);
function uniform(n: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
}
function ints(n: number, lo: number, hi: number): Int32Array {
  return Int32Array.from({ length: n }, () => lo + Math.floor(rand() * (hi - lo)));
}
const PAD = 5;
const SENTINEL = 12345.5;
/** An output with PAD sentinel elements past n: comparing whole arrays also proves nothing was written past the end. */
function out(n: number): Float32Array {
  return new Float32Array(n + PAD).fill(SENTINEL);
}
function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
function contiguous(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

function sameValue(a: number, e: number): boolean {
  return a === e || (Number.isNaN(a) && Number.isNaN(e));
}
function assertExact(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!sameValue(actual[i], expected[i])) assert.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}
/** |a - e| <= rtol·|e| + atol·max|e| per element; NaN and infinities must match exactly. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 2e-6, atol = 1e-6): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) if (Number.isFinite(expected[i])) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (!Number.isFinite(a) || !Number.isFinite(e)) {
      if (!sameValue(a, e)) assert.fail(`${what}[${i}]: ${a} vs ${e}`);
    } else if (!(Math.abs(a - e) <= rtol * Math.abs(e) + atol * scale)) {
      assert.fail(`${what}[${i}]: ${a} vs ${e} (diff ${Math.abs(a - e)}, scale ${scale})`);
    }
  }
}

/** Runs fn on every ISA this CPU supports (the addon's choice is restored afterwards). */
function eachIsa(fn: (isa: string) => void): void {
  const saved = addon!.isa();
  try {
    for (const isa of ['avx512', 'avx2', 'scalar']) if (addon!.setIsa(isa)) fn(isa);
  } finally {
    addon!.setIsa(saved);
  }
}

/** Runs fn with at least two pool threads, so the large cases take the threaded paths even on a 1-core machine. */
function withTwoThreads(fn: () => void): void {
  const saved = addon!.numThreads();
  if (saved < 2) addon!.setThreads(2);
  try {
    fn();
  } finally {
    if (saved < 2) addon!.setThreads(saved);
  }
}

const SIZES = [0, 1, 3, 15, 16, 17, 33, 129, 1000, 140001]; // around each SIMD width, plus one that threads
const ROW_SHAPES: [number, number][] = [[1, 1], [1, 3], [3, 7], [2, 15], [4, 17], [5, 33], [3, 129], [7, 1000], [300, 1031]];

// ---- data movement ----

test('fill writes exactly [offset, offset+n)', { skip }, () => {
  for (const n of SIZES) {
    const expected = out(n + 3);
    R.fill(expected, 2, n, -1.25);
    eachIsa((isa) => {
      const actual = out(n + 3);
      N!.fill(actual, 2, n, -1.25);
      assertExact(actual, expected, `fill n=${n} ${isa}`);
    });
  }
});

test('copyStrided: permutes, slices, broadcasts and negative strides', { skip }, () => {
  const src = uniform(400 * 1031);
  const cases: { shape: number[]; strides: number[]; offset: number }[] = [
    { shape: [], strides: [], offset: 5 },
    { shape: [17], strides: [1], offset: 3 },
    { shape: [17], strides: [3], offset: 0 },
    { shape: [16], strides: [-2], offset: 40 },
    { shape: [7, 5], strides: [1, 7], offset: 0 }, // transpose
    { shape: [4, 3], strides: [0, 1], offset: 2 }, // broadcast a row
    { shape: [3, 4, 5], strides: [20, 1, 4], offset: 1 },
    { shape: [2, 3, 4, 5], strides: [60, 5, 15, 1], offset: 0 }, // (B,T,H,D) -> (B,H,T,D)
    { shape: [2, 1, 3, 33], strides: [200, 999, 66, 1], offset: 7 }, // slice with a size-1 dim
    { shape: [1031, 300], strides: [1, 1031], offset: 0 }, // large transpose (threads)
    { shape: [3, 33, 17], strides: [561, 1, 33], offset: 2 }, // batched transpose (tiled)
    { shape: [40, 5, 9], strides: [1, 360, 40], offset: 0 }, // unit stride on the leading dim (tiled)
    { shape: [512, 512], strides: [1, 512], offset: 0 }, // power-of-two transpose (tiled, threads)
    { shape: [300, 1031], strides: [1100, 1], offset: 11 }, // large row slice (threads)
  ];
  for (const { shape, strides, offset } of cases) {
    const n = sizeOf(shape);
    const expected = out(n + 1);
    R.copyStrided(src, offset, strides, expected, 1, shape);
    eachIsa((isa) => {
      const actual = out(n + 1);
      withTwoThreads(() => N!.copyStrided(src, offset, strides, actual, 1, shape));
      assertExact(actual, expected, `copyStrided ${JSON.stringify(shape)} ${JSON.stringify(strides)} ${isa}`);
    });
  }
});

test('bf16 casts: special values, ties, subnormals and all 65536 patterns', { skip }, () => {
  const specials = [
    0, -0, 1, -1, Infinity, -Infinity, NaN, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -1e-45, 1.1754942e-38,
    1.1754944e-38, 2.350988701644575e-38, 65504, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, 1 - 2 ** -9,
    3.3961775292304957e38, 3.3895313892515355e38, 0.1, -0.3, 1e10, -7e-30,
  ];
  const values = new Float32Array(specials.length + 1000 + 4);
  values.set(specials);
  values.set(uniform(1000, -1e4, 1e4), specials.length);
  const bits = new Uint32Array(values.buffer);
  // NaNs with payloads and both signs, written as bits (a JS NaN would lose them).
  bits.set([0x7f800001, 0xffc12345, 0x7fbfffff, 0xff800100], specials.length + 1000);
  const n = values.length;
  const expected = new Uint16Array(n + PAD);
  R.castToBf16(values, expected, n);
  for (let i = 0; i < n; i++) {
    // The reference reads NaNs through JS numbers; the spec keeps sign and top payload bits and sets the quiet bit.
    if ((bits[i] & 0x7fffffff) > 0x7f800000) expected[i] = (bits[i] >>> 16) | 0x40;
  }
  const patterns = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const widened = out(65536);
  R.castFromBf16(patterns, widened, 65536);
  eachIsa((isa) => {
    for (const len of [n, 1, 3, 17]) {
      const actual = new Uint16Array(n + PAD);
      N!.castToBf16(values, actual, len);
      assertExact(actual.subarray(0, len), expected.subarray(0, len), `castToBf16 n=${len} ${isa}`);
      assertExact(actual.subarray(len), new Uint16Array(n + PAD - len), `castToBf16 past n=${len} ${isa}`);
    }
    const back = out(65536);
    N!.castFromBf16(patterns, back, 65536);
    assertExact(back, widened, `castFromBf16 ${isa}`);
    const backBits = new Uint32Array(back.buffer);
    for (let i = 0; i < 65536; i++) if (backBits[i] !== (i << 16) >>> 0) assert.fail(`castFromBf16 bits of ${i} ${isa}`);
  });
  // A big one takes the threaded path.
  const big = uniform(200003, -100, 100);
  const bigExpected = new Uint16Array(big.length);
  R.castToBf16(big, bigExpected, big.length);
  eachIsa((isa) => {
    const actual = new Uint16Array(big.length);
    withTwoThreads(() => N!.castToBf16(big, actual, big.length));
    assertExact(actual, bigExpected, `castToBf16 large ${isa}`);
  });
});

// ---- elementwise ----

test('binary: every op over broadcast patterns (exact: one float rounding, as the reference)', { skip }, () => {
  const cases: { shape: number[]; a: number[]; b: number[] }[] = [
    { shape: [], a: [], b: [] },
    { shape: [1], a: [1], b: [1] },
    { shape: [17], a: [1], b: [1] },
    { shape: [17], a: [1], b: [0] }, // scalar b
    { shape: [15], a: [0], b: [1] }, // scalar a
    { shape: [3, 33], a: [33, 1], b: [0, 1] }, // bias along rows
    { shape: [3, 33], a: [33, 1], b: [1, 0] }, // per-row column vector
    { shape: [33, 3], a: [1, 33], b: [3, 1] }, // transposed a
    { shape: [2, 3, 7], a: [21, 7, 1], b: [7, 0, 1] }, // broadcast over the middle dim
    { shape: [2, 3, 7], a: [21, 7, 1], b: [0, 7, 1] }, // broadcast over the leading dim
    { shape: [2, 3, 4, 5], a: [60, 20, 5, 1], b: [0, 0, 0, 0] },
    { shape: [2, 3, 4, 5], a: [60, 20, 5, 1], b: [20, 0, 5, 1] },
    { shape: [2, 3, 4, 5], a: [0, 5, 0, 1], b: [60, 20, 5, 1] },
    { shape: [4, 1, 3, 1], a: [3, 3, 1, 1], b: [0, 9, 1, 7] },
    { shape: [300, 1031], a: [1031, 1], b: [1031, 1] }, // large same-shape (threads)
    { shape: [300, 1031], a: [1031, 1], b: [0, 1] }, // large bias (threads)
    { shape: [300, 1031], a: [1, 300], b: [1, 0] }, // large strided (threads)
  ];
  for (const { shape, a: as, b: bs } of cases) {
    const n = sizeOf(shape);
    const a = uniform(n + 3, -2, 2), b = uniform(n + 3, 0.5, 2);
    for (const op of ['add', 'sub', 'mul', 'div'] as BinaryOp[]) {
      const expected = out(n);
      R.binary(op, a, 2, as, b, 1, bs, expected, shape);
      eachIsa((isa) => {
        const actual = out(n);
        withTwoThreads(() => N!.binary(op, a, 2, as, b, 1, bs, actual, shape));
        assertExact(actual, expected, `binary ${op} ${JSON.stringify(shape)} a${JSON.stringify(as)} b${JSON.stringify(bs)} ${isa}`);
      });
    }
  }
});

const UNARY_OPS: UnaryOp[] = ['exp', 'log', 'neg', 'sqrt', 'square', 'relu', 'tanh', 'sigmoid', 'silu', 'logsigmoid'];
function unaryInput(op: UnaryOp, n: number): Float32Array {
  if (op === 'log' || op === 'sqrt') return Float32Array.from(uniform(n, -20, 20), (x) => Math.exp(x));
  if (op === 'exp') return uniform(n, -80, 80);
  return uniform(n, -12, 12);
}

test('unary and unaryBackward: every op, sizes around the SIMD widths, in place', { skip }, () => {
  for (const op of UNARY_OPS) {
    for (const n of SIZES) {
      const x = unaryInput(op, n);
      const y = out(n);
      R.unary(op, x, y, n);
      const yf = y.slice(0, n);
      const gy = uniform(n);
      const gx = out(n);
      R.unaryBackward(op, x, yf, gy, gx, n);
      eachIsa((isa) => {
        const actual = out(n);
        withTwoThreads(() => N!.unary(op, x, actual, n));
        assertClose(actual, y, `unary ${op} n=${n} ${isa}`);
        const inPlace = x.slice();
        N!.unary(op, inPlace, inPlace, n);
        assertClose(inPlace, y.subarray(0, n), `unary ${op} in place n=${n} ${isa}`);
        const g = out(n);
        withTwoThreads(() => N!.unaryBackward(op, x, yf, gy, g, n));
        assertClose(g, gx, `unaryBackward ${op} n=${n} ${isa}`);
      });
    }
  }
});

test('unary special values: NaN, infinities, zeros, extremes', { skip }, () => {
  const x = Float32Array.from([NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 88.5, 89, -87.5, -104, -200, 200, 1e-30, 3e38, -3e38, 0.5, 20, -20]);
  const n = x.length;
  for (const op of UNARY_OPS) {
    const expected = out(n);
    R.unary(op, x, expected, n);
    eachIsa((isa) => {
      const actual = out(n);
      N!.unary(op, x, actual, n);
      // Results below FLT_MIN may flush to zero (exp of -87.5 and below): compare those absolutely.
      assertClose(actual, expected, `unary ${op} specials ${isa}`, 2e-6, 1e-37 / 3e38);
    });
  }
});

test('affine, swiglu and swigluBackward', { skip }, () => {
  for (const n of SIZES) {
    const x = uniform(n, -5, 5), u = uniform(n, -3, 3), g = uniform(n);
    const e1 = out(n), e2 = out(n), e3 = out(n), e4 = out(n);
    R.affine(x, e1, n, 1.5, -0.25);
    R.swiglu(x, u, e2, n);
    R.swigluBackward(x, u, g, e3, e4, n);
    eachIsa((isa) => {
      const a1 = out(n), a2 = out(n), a3 = out(n), a4 = out(n);
      withTwoThreads(() => {
        N!.affine(x, a1, n, 1.5, -0.25);
        N!.swiglu(x, u, a2, n);
        N!.swigluBackward(x, u, g, a3, a4, n);
      });
      assertClose(a1, e1, `affine n=${n} ${isa}`, 1e-7, 1e-7);
      const inPlace = x.slice();
      N!.affine(inPlace, inPlace, n, 1.5, -0.25);
      assertClose(inPlace, e1.subarray(0, n), `affine in place n=${n} ${isa}`, 1e-7, 1e-7);
      assertClose(a2, e2, `swiglu n=${n} ${isa}`);
      assertClose(a3, e3, `swigluBackward ggate n=${n} ${isa}`);
      assertClose(a4, e4, `swigluBackward gup n=${n} ${isa}`);
    });
  }
});

test('dropout regenerates the reference mask exactly, threaded and in place', { skip }, () => {
  for (const n of SIZES) {
    const x = uniform(n, 0.5, 2); // no zeros, so a zero output always means dropped
    for (const [p, seed] of [[0.1, 7], [0.5, 0xdeadbeef], [0, 3]] as const) {
      const expected = out(n);
      R.dropout(x, expected, n, p, seed);
      eachIsa((isa) => {
        const actual = out(n);
        withTwoThreads(() => N!.dropout(x, actual, n, p, seed));
        assertClose(actual, expected, `dropout p=${p} n=${n} ${isa}`, 0, 0);
        const inPlace = x.slice();
        N!.dropout(inPlace, inPlace, n, p, seed);
        assertClose(inPlace, expected.subarray(0, n), `dropout in place p=${p} n=${n} ${isa}`, 0, 0);
      });
    }
  }
});

// ---- reductions ----

test('reduceSum: bias gradient, row sums, full sums and rank-4 patterns', { skip }, () => {
  const cases: { shape: number[]; strides: number[]; outSize: number }[] = [
    { shape: [], strides: [], outSize: 1 },
    { shape: [17], strides: [0], outSize: 1 },
    { shape: [17], strides: [1], outSize: 17 },
    { shape: [3, 33], strides: [0, 1], outSize: 33 },
    { shape: [3, 33], strides: [1, 0], outSize: 3 },
    { shape: [2, 3, 7], strides: [7, 0, 1], outSize: 14 }, // middle dim summed
    { shape: [2, 3, 7], strides: [0, 1, 0], outSize: 3 },
    { shape: [2, 3, 4, 5], strides: [0, 4, 1, 0], outSize: 12 },
    { shape: [2, 3, 4, 5], strides: [1, 0, 0, 2], outSize: 10 }, // transposed output
    { shape: [300, 1031], strides: [0, 1], outSize: 1031 }, // large bias gradient (threads)
    { shape: [300, 1031], strides: [1, 0], outSize: 300 }, // large row sums (threads)
    { shape: [200003], strides: [0], outSize: 1 }, // large full sum (threads)
    { shape: [140001], strides: [1], outSize: 140001 }, // large copy-through (threads split the row)
    { shape: [80, 30, 77], strides: [0, 77, 1], outSize: 2310 }, // leading dim summed (threads)
  ];
  for (const { shape, strides, outSize } of cases) {
    const n = sizeOf(shape);
    const x = uniform(n);
    const expected = out(outSize);
    R.reduceSum(x, shape, expected, strides, outSize);
    // Tolerance per output: float accumulation error is relative to the sum of |x| that reached it.
    const absScale = new Float32Array(outSize);
    R.reduceSum(Float32Array.from(x, Math.abs), shape, absScale, strides, outSize);
    eachIsa((isa) => {
      const actual = out(outSize).fill(7); // stale values must be overwritten
      actual.fill(SENTINEL, outSize);
      withTwoThreads(() => N!.reduceSum(x, shape, actual, strides, outSize));
      for (let i = 0; i < outSize; i++) {
        if (!(Math.abs(actual[i] - expected[i]) <= 1e-6 * absScale[i] + 1e-7))
          assert.fail(`reduceSum ${JSON.stringify(shape)} ${JSON.stringify(strides)} [${i}] ${actual[i]} vs ${expected[i]} ${isa}`);
      }
      assertExact(actual.subarray(outSize), expected.subarray(outSize), `reduceSum past outSize ${isa}`);
    });
  }
});

test('sumSquares accumulates in double precision', { skip }, () => {
  for (const n of [...SIZES, 200003]) {
    const x = uniform(n + 2, -3, 3);
    const expected = R.sumSquares(x, n);
    eachIsa((isa) => {
      const actual = N!.sumSquares(x, n);
      assert.ok(Math.abs(actual - expected) <= 1e-12 * expected, `sumSquares n=${n} ${isa}: ${actual} vs ${expected}`);
    });
  }
  // Double accumulation keeps 1 + many tiny squares that a float sum would drop.
  const x = new Float32Array(1 << 20).fill(2 ** -13);
  x[0] = 1;
  eachIsa((isa) => {
    assert.equal(N!.sumSquares(x, x.length), 1 + ((1 << 20) - 1) * 2 ** -26, `sumSquares tiny terms ${isa}`);
  });
});

// ---- fused layers ----

test('rmsnorm and rmsnormBackward (gw accumulates, threaded rows)', { skip }, () => {
  for (const [rows, dim] of ROW_SHAPES) {
    const x = uniform(rows * dim, -2, 2), w = uniform(dim, 0.5, 1.5), gy = uniform(rows * dim);
    const y = out(rows * dim), rstd = out(rows);
    R.rmsnorm(x, w, y, rstd, rows, dim, 1e-5);
    const rs = rstd.slice(0, rows);
    const gx = out(rows * dim), gw0 = uniform(dim), gw = gw0.slice();
    R.rmsnormBackward(x, w, rs, gy, gx, gw, rows, dim);
    eachIsa((isa) => {
      const ya = out(rows * dim), ra = out(rows);
      withTwoThreads(() => N!.rmsnorm(x, w, ya, ra, rows, dim, 1e-5));
      assertClose(ya, y, `rmsnorm y ${rows}x${dim} ${isa}`);
      assertClose(ra, rstd, `rmsnorm rstd ${rows}x${dim} ${isa}`);
      const gxa = out(rows * dim), gwa = gw0.slice();
      withTwoThreads(() => N!.rmsnormBackward(x, w, rs, gy, gxa, gwa, rows, dim));
      assertClose(gxa, gx, `rmsnormBackward gx ${rows}x${dim} ${isa}`, 2e-6, 2e-6);
      assertClose(gwa, gw, `rmsnormBackward gw ${rows}x${dim} ${isa}`, 1e-5, 1e-5);
    });
  }
});

test('rope: both conventions, inverse, in place, large positions, threaded', { skip }, () => {
  const shapes: [number, number, number][] = [[1, 1, 2], [3, 2, 6], [5, 3, 34], [4, 2, 64], [3, 2, 130], [2, 1, 300], [300, 4, 64]];
  for (const [rows, heads, dim] of shapes) {
    const n = rows * heads * dim;
    const x = uniform(n, -2, 2);
    const positions = ints(rows, -50, 200000);
    positions[0] = 0;
    const invFreq = Float32Array.from({ length: dim / 2 }, (_, i) => Math.pow(10000, (-2 * i) / dim));
    for (const interleaved of [false, true]) {
      for (const inverse of [false, true]) {
        const expected = out(n);
        R.rope(x, expected, rows, heads, dim, positions, invFreq, interleaved, inverse);
        const what = `rope ${rows}x${heads}x${dim} interleaved=${interleaved} inverse=${inverse}`;
        eachIsa((isa) => {
          const actual = out(n);
          withTwoThreads(() => N!.rope(x, actual, rows, heads, dim, positions, invFreq, interleaved, inverse));
          assertClose(actual, expected, `${what} ${isa}`, 2e-6, 1e-6);
          const inPlace = x.slice();
          N!.rope(inPlace, inPlace, rows, heads, dim, positions, invFreq, interleaved, inverse);
          assertClose(inPlace, expected.subarray(0, n), `${what} in place ${isa}`, 2e-6, 1e-6);
          // The inverse undoes the rotation.
          N!.rope(inPlace, inPlace, rows, heads, dim, positions, invFreq, interleaved, !inverse);
          assertClose(inPlace, x, `${what} round trip ${isa}`, 1e-5, 1e-6);
        });
      }
    }
  }
});

test('softmax (plain, causal with offsets, fully masked rows) and softmaxBackward', { skip }, () => {
  const cases: [number, number, number, number][] = [
    [1, 1, 0, 0], [3, 7, 0, 0], [4, 17, 0, 0], [5, 33, 0, 0], [3, 129, 0, 0], [7, 1000, 0, 0],
    [8, 7, 4, 3], // causal, 4 queries after 3 cached keys, 2 batches
    [6, 17, 6, 0], // square causal
    [5, 33, 5, -2], // negative offset: the first rows see nothing
    [10, 9, 5, 20], // offset past the end: every column visible
    [300, 1031, 300, 731], // large causal (threads)
    [300, 1031, 0, 0], // large (threads)
  ];
  for (const [rows, n, q, offset] of cases) {
    const x = uniform(rows * n, -8, 8);
    const y = out(rows * n);
    R.softmax(x, y, rows, n, q, offset);
    const yf = y.slice(0, rows * n), gy = uniform(rows * n);
    const gx = out(rows * n);
    R.softmaxBackward(yf, gy, gx, rows, n);
    eachIsa((isa) => {
      const ya = out(rows * n).fill(3, 0, rows * n); // masked entries must be written as 0
      withTwoThreads(() => N!.softmax(x, ya, rows, n, q, offset));
      assertClose(ya, y, `softmax ${rows}x${n} causal=${q}/${offset} ${isa}`, 2e-6, 1e-7);
      const gxa = out(rows * n);
      withTwoThreads(() => N!.softmaxBackward(yf, gy, gxa, rows, n));
      assertClose(gxa, gx, `softmaxBackward ${rows}x${n} ${isa}`, 2e-6, 1e-6);
    });
  }
});

test('logprobGather and its backward: ignored rows, in-place backward, threaded rows', { skip }, () => {
  const shapes: [number, number][] = [[1, 1], [3, 7], [4, 17], [5, 33], [3, 129], [9, 1000], [300, 1031]];
  for (const [rows, vocab] of shapes) {
    const logits = uniform(rows * vocab, -10, 10);
    const targets = ints(rows, 0, vocab);
    for (let r = 1; r < rows; r += 3) targets[r] = -100;
    const o = out(rows), lse = out(rows);
    R.logprobGather(logits, targets, o, lse, rows, vocab, -100);
    const lsef = lse.slice(0, rows), gout = uniform(rows);
    const g = out(rows * vocab);
    R.logprobGatherBackward(logits, targets, lsef, gout, g, rows, vocab, -100);
    eachIsa((isa) => {
      const oa = out(rows), la = out(rows);
      withTwoThreads(() => N!.logprobGather(logits, targets, oa, la, rows, vocab, -100));
      assertClose(oa, o, `logprobGather out ${rows}x${vocab} ${isa}`, 2e-6, 2e-7);
      assertClose(la, lse, `logprobGather lse ${rows}x${vocab} ${isa}`, 2e-6, 2e-7);
      const ga = out(rows * vocab);
      withTwoThreads(() => N!.logprobGatherBackward(logits, targets, lsef, gout, ga, rows, vocab, -100));
      assertClose(ga, g, `logprobGatherBackward ${rows}x${vocab} ${isa}`, 2e-6, 1e-6);
      // In place: the gradient overwrites the logits it is computed from.
      const inPlace = logits.slice();
      withTwoThreads(() => N!.logprobGatherBackward(inPlace, targets, lsef, gout, inPlace, rows, vocab, -100));
      assertClose(inPlace, g.subarray(0, rows * vocab), `logprobGatherBackward in place ${rows}x${vocab} ${isa}`, 2e-6, 1e-6);
    });
  }
});

test('embedding (f32 and bf16 tables) and embeddingBackward with repeated ids', { skip }, () => {
  const shapes: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [17, 4, 33], [40, 11, 129], [600, 50, 1031]];
  for (const [n, vocab, dim] of shapes) {
    const table = uniform(vocab * dim);
    const table16 = new Uint16Array(vocab * dim);
    R.castToBf16(table, table16, vocab * dim);
    const ids = ints(n, 0, vocab);
    ids[n - 1] = ids[0]; // at least one repeat even for tiny n
    const gout = uniform(n * dim);
    const e32 = out(n * dim), e16 = out(n * dim);
    R.embedding(table, ids, e32, n, dim);
    R.embedding(table16, ids, e16, n, dim);
    const gt0 = uniform(vocab * dim), gt = gt0.slice();
    R.embeddingBackward(gout, ids, gt, n, dim);
    eachIsa((isa) => {
      const a32 = out(n * dim), a16 = out(n * dim);
      withTwoThreads(() => {
        N!.embedding(table, ids, a32, n, dim);
        N!.embedding(table16, ids, a16, n, dim);
      });
      assertExact(a32, e32, `embedding f32 ${n}x${dim} ${isa}`);
      assertExact(a16, e16, `embedding bf16 ${n}x${dim} ${isa}`);
      const gta = gt0.slice();
      withTwoThreads(() => N!.embeddingBackward(gout, ids, gta, n, dim));
      // Each table row sums its repeats in id order, as the reference does: the result is exact.
      assertExact(gta, gt, `embeddingBackward ${n}x${dim} ${isa}`);
    });
  }
});

test('adamw: one fused step matches the reference', { skip }, () => {
  for (const n of SIZES) {
    const p = uniform(n), g = uniform(n, -0.1, 0.1), m = uniform(n, -0.01, 0.01), v = uniform(n, 0, 1e-3);
    const args = { n, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, bc1: 1 - 0.9 ** 3, bc2: 1 - 0.999 ** 3 };
    const ep = p.slice(), em = m.slice(), ev = v.slice();
    R.adamw({ ...args, p: ep, g, m: em, v: ev });
    eachIsa((isa) => {
      const ap = p.slice(), am = m.slice(), av = v.slice();
      withTwoThreads(() => N!.adamw({ ...args, p: ap, g, m: am, v: av }));
      assertClose(ap, ep, `adamw p n=${n} ${isa}`, 1e-6, 1e-7);
      assertClose(am, em, `adamw m n=${n} ${isa}`, 1e-6, 1e-7);
      assertClose(av, ev, `adamw v n=${n} ${isa}`, 1e-6, 1e-7);
    });
  }
});

// ---- many-adapter LoRA ----

interface LoraCase {
  inF: number; outF: number; nRows: number;
  rows: Int32Array; offsets: Int32Array; a: Float32Array[]; b: Float32Array[]; ranks: Int32Array; scales: Float32Array;
  x: Float32Array; y0: Float32Array;
}
/**
 * Groups of the given ranks over a scrambled subset of nRows rows (some rows in no group); group `empty`, if any, has
 * no rows. y0 is random, so the op must add to it.
 */
function loraCase(inF: number, outF: number, nRows: number, ranks: number[], listed: number, empty = -1): LoraCase {
  const perm = Int32Array.from({ length: nRows }, (_, i) => i);
  for (let i = nRows - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const rows = perm.slice(0, listed);
  const offsets = new Int32Array(ranks.length + 1);
  const nonEmpty = ranks.length - (empty >= 0 ? 1 : 0);
  for (let g = 0, k = 0; g < ranks.length; g++) {
    if (g !== empty) k++;
    offsets[g + 1] = g === ranks.length - 1 ? listed : Math.round((listed * k) / nonEmpty);
  }
  return {
    inF, outF, nRows, rows, offsets,
    a: ranks.map((r) => uniform(r * inF)), b: ranks.map((r) => uniform(outF * r)),
    ranks: Int32Array.from(ranks), scales: Float32Array.from(ranks, () => 0.25 + 2 * rand()),
    x: uniform(nRows * inF), y0: uniform(nRows * outF, -4, 4),
  };
}
function runLora(k: { loraGroups: typeof R.loraGroups }, c: LoraCase, y: Float32Array): void {
  k.loraGroups(c.x, y, c.inF, c.outF, c.rows, c.offsets, c.a, c.b, c.ranks, c.scales);
}

test('loraGroups: mixed ranks 1..64, odd sizes, scrambled rows, empty groups; adds to y and nothing else', { skip }, () => {
  const shapes: [number, number, number][] = [[1, 1, 3], [5, 3, 6], [37, 37, 20], [576, 1536, 16], [1536, 576, 33], [129, 17, 64]];
  for (const [inF, outF, nRows] of shapes) {
    const ranks = [1, 64, 0, 8, 13, 32, 1 + Math.floor(rand() * 64), 16, 3];
    const c = loraCase(inF, outF, nRows, ranks, nRows - 2, 5);
    const expected = c.y0.slice();
    R.loraGroups(c.x, expected, inF, outF, c.rows, c.offsets, c.a, c.b, c.ranks, c.scales);
    const untouched = [...Array(nRows).keys()].filter((r) => !c.rows.includes(r));
    eachIsa((isa) => {
      const buf = out(nRows * outF);
      buf.set(c.y0);
      const y = buf.subarray(0, nRows * outF); // the sentinels after it prove nothing is written past y
      withTwoThreads(() => runLora(N!, c, y));
      assertClose(buf.subarray(0, nRows * outF), expected, `loraGroups ${inF}x${outF} ${isa}`, 1e-5, 2e-6);
      for (let i = nRows * outF; i < buf.length; i++) assert.equal(buf[i], SENTINEL, `loraGroups ${inF}x${outF} ${isa}: wrote past y`);
      for (const r of untouched) assertExact(y.subarray(r * outF, (r + 1) * outF), c.y0.subarray(r * outF, (r + 1) * outF), `untouched row ${r} ${isa}`);
    });
  }
});

test('loraGroups: a row gives bit-identical y alone, in a big call, in any order, at 1 or 2 threads', { skip }, () => {
  const shapes: [number, number][] = [[37, 1536], [576, 1536], [1536, 37]];
  for (const [inF, outF] of shapes) {
    const c = loraCase(inF, outF, 23, [8, 64, 1, 37, 16, 5], 23);
    eachIsa((isa) => {
      const big = c.y0.slice();
      withTwoThreads(() => runLora(N!, c, big));
      const single = c.y0.slice();
      const saved = addon!.numThreads();
      addon!.setThreads(1);
      try {
        runLora(N!, c, single);
      } finally {
        addon!.setThreads(saved);
      }
      assertExact(single, big, `1 vs 2 threads ${inF}x${outF} ${isa}`);
      // The same groups with each group's rows reversed (other blocks of 4, other neighbours).
      const reversed = c.rows.slice();
      for (let g = 0; g < c.ranks.length; g++) reversed.subarray(c.offsets[g], c.offsets[g + 1]).reverse();
      const rev = c.y0.slice();
      withTwoThreads(() => N!.loraGroups(c.x, rev, inF, outF, reversed, c.offsets, c.a, c.b, c.ranks, c.scales));
      assertExact(rev, big, `reversed rows ${inF}x${outF} ${isa}`);
      for (let g = 0; g < c.ranks.length; g++) {
        for (let i = c.offsets[g]; i < c.offsets[g + 1]; i++) {
          const row = c.rows[i];
          const alone = c.y0.slice();
          N!.loraGroups(c.x, alone, inF, outF, Int32Array.of(row), Int32Array.of(0, 1), [c.a[g]], [c.b[g]], c.ranks.subarray(g, g + 1), c.scales.subarray(g, g + 1));
          assertExact(alone.subarray(row * outF, (row + 1) * outF), big.subarray(row * outF, (row + 1) * outF), `row ${row} alone vs batched ${inF}x${outF} ${isa}`);
        }
      }
    });
  }
});

// ---- bounds ----

test('bounds: short arrays, bad ids/targets, strides outside, wrong array types throw TypeError', { skip }, () => {
  const k = N!;
  const f = (n: number) => new Float32Array(n);
  const throwsType = (fn: () => void, pattern: RegExp) => assert.throws(fn, (e: unknown) => e instanceof TypeError && pattern.test((e as Error).message));
  throwsType(() => k.fill(f(10), 5, 6, 0), /^fill: out/);
  throwsType(() => k.unary('exp', f(10), f(9), 10), /^unary: out/);
  throwsType(() => k.castToBf16(f(10), new Uint16Array(9), 10), /^castToBf16: dst/);
  throwsType(() => k.rmsnorm(f(12), f(3), f(12), f(3), 4, 3, 1e-5), /^rmsnorm: rstd/);
  throwsType(() => k.softmax(f(20), f(20), 3, 7, 0, 0), /^softmax: x/);
  throwsType(() => k.rope(f(12), f(12), 2, 1, 6, new Int32Array(2), f(2), false, false), /^rope: invFreq/);
  throwsType(() => k.rope(f(14), f(14), 2, 1, 7, new Int32Array(2), f(3), false, false), /^rope: head dim 7 is odd/);
  throwsType(() => k.embedding(f(12), Int32Array.from([0, 3]), f(8), 2, 4), /^embedding: id 3 at 1 is outside \[0, 3\)/);
  throwsType(() => k.embedding(f(12), Int32Array.from([-1]), f(4), 1, 4), /^embedding: id -1/);
  throwsType(() => k.embeddingBackward(f(8), Int32Array.from([0, 5]), f(12), 2, 4), /^embeddingBackward: id 5/);
  throwsType(() => k.logprobGather(f(6), Int32Array.from([1, 3]), f(2), f(2), 2, 3, -100), /^logprobGather: target 3 of row 1/);
  throwsType(() => k.logprobGatherBackward(f(6), Int32Array.from([-5, 0]), f(2), f(2), f(6), 2, 3, -100), /^logprobGatherBackward: target -5/);
  throwsType(() => k.binary('add', f(10), 0, [1], f(10), 1, [1], f(10), [10]), /^binary: b strides reach outside/);
  throwsType(() => k.binary('add', f(10), 0, [-1], f(10), 0, [1], f(10), [10]), /^binary: a strides reach outside/);
  throwsType(() => k.copyStrided(f(10), 0, [4], f(4), 0, [4]), /^copyStrided: src strides/);
  throwsType(() => k.reduceSum(f(12), [3, 4], f(3), [0, 1], 3), /^reduceSum: outStrides/);
  throwsType(() => k.unary('exp', new Float64Array(4), f(4), 4), /^unary: x must be a Float32Array/);
  throwsType(() => k.fill(f(4), -1, 2, 0), /^fill: offset must be an integer >= 0/);
  throwsType(() => k.fill(f(4), 0, 1.5, 0), /^fill: n must be an integer/);
  throwsType(() => k.adamw({ p: f(4), g: f(3), m: f(4), v: f(4), n: 4, lr: 1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, bc1: 1, bc2: 1 }), /^adamw: g/);
  {
    const a = [f(6), f(6)], b = [f(8), f(8)], rows = Int32Array.of(0, 1, 2), offsets = Int32Array.of(0, 1, 3), ranks = Int32Array.of(2, 2), scales = f(2);
    const y = new Float32Array(12).fill(7), x = f(9);
    const lora = (over: Partial<{ x: Float32Array; rows: Int32Array; offsets: Int32Array; a: unknown; b: unknown; ranks: Int32Array; scales: Float32Array }>) => () =>
      k.loraGroups(over.x ?? x, y, 3, 4, over.rows ?? rows, over.offsets ?? offsets, (over.a ?? a) as Float32Array[], (over.b ?? b) as Float32Array[], over.ranks ?? ranks, over.scales ?? scales);
    throwsType(lora({ rows: Int32Array.of(0, 1, 3) }), /^loraGroups: row 3 at 2 is outside \[0, 3\)/);
    throwsType(lora({ rows: Int32Array.of(0, -1, 2) }), /^loraGroups: row -1 at 1/);
    throwsType(lora({ x: f(8) }), /^loraGroups: row 2 at 2 is outside \[0, 2\)/);
    throwsType(lora({ a: [f(6), f(5)] }), /^loraGroups: a\[1\] has 5 elements but 2 × 3 are needed/);
    throwsType(lora({ b: [f(7), f(8)] }), /^loraGroups: b\[0\] has 7 elements/);
    throwsType(lora({ b: [f(8)] }), /^loraGroups: a has 2 matrices but b has 1/);
    throwsType(lora({ a: [f(6), new Float64Array(6)] }), /^loraGroups: a\[1\] must be a Float32Array/);
    throwsType(lora({ a: f(6) }), /^loraGroups: a must be an array/);
    throwsType(lora({ offsets: Int32Array.of(0, 2, 1) }), /^loraGroups: offsets\[1..2\] = 2..1 is not a range/);
    throwsType(lora({ offsets: Int32Array.of(0, 1, 4) }), /^loraGroups: offsets\[1..2\] = 1..4/);
    throwsType(lora({ offsets: Int32Array.of(0, 1) }), /^loraGroups: offsets has 2 elements but 3 are needed/);
    throwsType(lora({ ranks: Int32Array.of(2, -1) }), /^loraGroups: ranks\[1\] is -1/);
    throwsType(lora({ scales: f(1) }), /^loraGroups: scales has 1 elements/);
    // Arguments are all checked before anything is written: the bad row of the second group left the first alone.
    assert.ok(y.every((v) => v === 7));
  }
  // Ignored targets need not be in range; nothing was written by the failed calls above.
  const o = f(2);
  k.logprobGather(Float32Array.from([0, 0, 0, 1, 2, 3]), Int32Array.from([-100, 2]), o, f(2), 2, 3, -100);
  assert.equal(o[0], 0);
  assert.ok(Math.abs(o[1] - (3 - Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)))) < 1e-6);
});
