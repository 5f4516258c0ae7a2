// Checks the reference backend: every backward op against float64 finite differences, and ops against each other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceBackend as R } from '../src/backend/reference.ts';
import { bf16ToF32, f32ToBf16 } from '../src/backend/bf16.ts';
import type { BinaryOp, FloatArray, UnaryOp } from '../src/backend/backend.ts';
import { rng } from './helpers/random.ts';

// ---- helpers ----
const rand = rng(1234);
function randn(n: number, lo = -1, hi = 1): Float64Array {
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * rand());
}
function dotAll(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
/** Central-difference gradient of loss() with respect to x (perturbed in place and restored). */
function numGrad(loss: () => number, x: Float64Array, eps = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i];
    x[i] = x0 + eps;
    const lp = loss();
    x[i] = x0 - eps;
    const lm = loss();
    x[i] = x0;
    g[i] = (lp - lm) / (2 * eps);
  }
  return g;
}
/** |a - e| <= tol·max(1, max|e|) elementwise: relative to the array's scale. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= tol * scale)) assert.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]} (diff ${d}, scale ${scale})`);
  }
}
const GT = 1e-6; // gradient-check tolerance

// ---- 1. backward ops against finite differences ----

test('matmul gradients via its own transposes (all trans combos, batched, offsets)', () => {
  const m = 3, n = 4, k = 5, batch = 2, off = 2;
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const a = randn(off + batch * m * k), b = randn(off + batch * k * n), r = randn(batch * m * n);
      const c = new Float64Array(batch * m * n);
      const fwd = () => {
        R.matmul({ a, aOffset: off, strideA: m * k, transA, b, bOffset: off, strideB: k * n, transB, c, cOffset: 0, strideC: m * n, batch, m, n, k, accumulate: false });
        return dotAll(c, r);
      };
      fwd();
      const ga = new Float64Array(a.length), gb = new Float64Array(b.length);
      for (let i = 0; i < batch; i++) {
        const base = { accumulate: false, batch: 1, strideA: 0, strideB: 0, strideC: 0 };
        // d op(A) = Rc·op(B)ᵀ (m×k); stored A is op(A) or its transpose.
        if (!transA) R.matmul({ ...base, a: r, aOffset: i * m * n, transA: false, b, bOffset: off + i * k * n, transB: !transB, c: ga, cOffset: off + i * m * k, m, n: k, k: n });
        else R.matmul({ ...base, a: b, aOffset: off + i * k * n, transA: transB, b: r, bOffset: i * m * n, transB: true, c: ga, cOffset: off + i * m * k, m: k, n: m, k: n });
        // d op(B) = op(A)ᵀ·Rc (k×n).
        if (!transB) R.matmul({ ...base, a, aOffset: off + i * m * k, transA: !transA, b: r, bOffset: i * m * n, transB: false, c: gb, cOffset: off + i * k * n, m: k, n, k: m });
        else R.matmul({ ...base, a: r, aOffset: i * m * n, transA: true, b: a, bOffset: off + i * m * k, transB: transA, c: gb, cOffset: off + i * k * n, m: n, n: k, k: m });
      }
      assertClose(ga, numGrad(fwd, a), GT, `dA transA=${transA} transB=${transB}`);
      assertClose(gb, numGrad(fwd, b), GT, `dB transA=${transA} transB=${transB}`);
    }
  }
});

test('unaryBackward matches finite differences for every UnaryOp', () => {
  const ops: UnaryOp[] = ['exp', 'log', 'neg', 'sqrt', 'square', 'relu', 'tanh', 'sigmoid', 'silu', 'logsigmoid'];
  const n = 12;
  for (const op of ops) {
    let x: Float64Array;
    if (op === 'log' || op === 'sqrt') x = randn(n, 0.3, 3);
    else if (op === 'relu') x = randn(n, 0.1, 1).map((v, i) => (i % 2 ? v : -v));
    else x = randn(n, -3, 3);
    const r = randn(n), y = new Float64Array(n);
    const fwd = () => {
      R.unary(op, x, y, n);
      return dotAll(y, r);
    };
    fwd();
    const gx = new Float64Array(n);
    R.unaryBackward(op, x, y, r, gx, n);
    assertClose(gx, numGrad(fwd, x), GT, op);
  }
});

test('rmsnormBackward: gx and accumulated gw', () => {
  const rows = 3, dim = 7, eps = 1e-5;
  const x = randn(rows * dim), w = randn(dim, 0.5, 1.5), r = randn(rows * dim);
  const y = new Float64Array(rows * dim), rstd = new Float64Array(rows);
  const fwd = () => {
    R.rmsnorm(x, w, y, rstd, rows, dim, eps);
    return dotAll(y, r);
  };
  fwd();
  const gx = new Float64Array(rows * dim), gw = new Float64Array(dim).fill(0.25);
  R.rmsnormBackward(x, w, rstd, r, gx, gw, rows, dim);
  assertClose(gx, numGrad(fwd, x), GT, 'gx');
  assertClose(gw.map((v) => v - 0.25), numGrad(fwd, w), GT, 'gw');
});

test('rope inverse is the backward of rope (both conventions, nonzero positions)', () => {
  const rows = 3, heads = 2, dim = 8;
  const positions = Int32Array.from([3, 0, 17]);
  const invFreq = Float32Array.from({ length: dim / 2 }, (_, i) => Math.pow(10000, (-2 * i) / dim));
  for (const interleaved of [false, true]) {
    const x = randn(rows * heads * dim), r = randn(rows * heads * dim), out = new Float64Array(x.length);
    const fwd = () => {
      R.rope(x, out, rows, heads, dim, positions, invFreq, interleaved, false);
      return dotAll(out, r);
    };
    const gx = new Float64Array(x.length);
    R.rope(r, gx, rows, heads, dim, positions, invFreq, interleaved, true);
    assertClose(gx, numGrad(fwd, x), GT, `interleaved=${interleaved}`);
  }
});

test('swigluBackward', () => {
  const n = 15;
  const gate = randn(n, -3, 3), up = randn(n), r = randn(n), out = new Float64Array(n);
  const fwd = () => {
    R.swiglu(gate, up, out, n);
    return dotAll(out, r);
  };
  const gg = new Float64Array(n), gu = new Float64Array(n);
  R.swigluBackward(gate, up, r, gg, gu, n);
  assertClose(gg, numGrad(fwd, gate), GT, 'ggate');
  assertClose(gu, numGrad(fwd, up), GT, 'gup');
});

test('softmaxBackward, plain and causal', () => {
  for (const [rows, n, ql, co] of [[4, 6, 0, 0], [6, 5, 3, 2], [4, 4, 4, 0]] as const) {
    const x = randn(rows * n, -2, 2), r = randn(rows * n), y = new Float64Array(rows * n);
    const fwd = () => {
      R.softmax(x, y, rows, n, ql, co);
      return dotAll(y, r);
    };
    fwd();
    const gx = new Float64Array(rows * n);
    R.softmaxBackward(y, r, gx, rows, n);
    assertClose(gx, numGrad(fwd, x), GT, `softmax causalQueryLen=${ql}`);
  }
});

interface AttnCase { name: string; batch: number; tq: number; tk: number; kvCap: number; hq: number; hkv: number; dim: number; causal: boolean; segments?: Int32Array }
const attnCases: AttnCase[] = [
  { name: 'GQA plain', batch: 2, tq: 4, tk: 5, kvCap: 5, hq: 4, hkv: 2, dim: 3, causal: false },
  { name: 'GQA causal tq<tk, kvCap>tk', batch: 2, tq: 3, tk: 6, kvCap: 8, hq: 4, hkv: 2, dim: 4, causal: true },
  { name: 'causal segments', batch: 2, tq: 6, tk: 6, kvCap: 6, hq: 2, hkv: 1, dim: 3, causal: true, segments: Int32Array.from([0, 0, 0, 1, 1, 2, 5, 5, 7, 7, 7, 7]) },
  { name: 'segments only', batch: 1, tq: 5, tk: 5, kvCap: 5, hq: 2, hkv: 2, dim: 2, causal: false, segments: Int32Array.from([1, 1, 2, 2, 2]) },
];
function attnInputs(c: AttnCase) {
  return {
    ...c,
    q: randn(c.batch * c.tq * c.hq * c.dim), k: randn(c.batch * c.kvCap * c.hkv * c.dim), v: randn(c.batch * c.kvCap * c.hkv * c.dim),
    o: new Float64Array(c.batch * c.tq * c.hq * c.dim), lse: new Float64Array(c.batch * c.hq * c.tq), scale: 1 / Math.sqrt(c.dim),
  };
}

test('attentionBackward: gq, gk, gv (GQA, causal tq<tk, segments)', () => {
  for (const c of attnCases) {
    const a = attnInputs(c);
    const r = randn(a.o.length);
    const fwd = () => {
      R.attention(a);
      return dotAll(a.o, r);
    };
    fwd();
    const sentinel = 7;
    const gq = new Float64Array(a.q.length).fill(sentinel), gk = new Float64Array(a.k.length).fill(sentinel), gv = new Float64Array(a.v.length).fill(sentinel);
    R.attentionBackward({ ...a, go: r, gq, gk, gv });
    // Positions at or beyond tk of the kv cache must stay untouched.
    const kvRow = c.hkv * c.dim;
    const unused = (i: number) => Math.floor(i / kvRow) % c.kvCap >= c.tk;
    const ngk = numGrad(fwd, a.k), ngv = numGrad(fwd, a.v);
    for (let i = 0; i < gk.length; i++) {
      if (unused(i)) {
        assert.equal(gk[i], sentinel, `${c.name}: gk[${i}] touched`);
        assert.equal(gv[i], sentinel, `${c.name}: gv[${i}] touched`);
        gk[i] = gv[i] = 0;
      }
    }
    assertClose(gq, numGrad(fwd, a.q), GT, `${c.name} gq`);
    assertClose(gk, ngk, GT, `${c.name} gk`);
    assertClose(gv, ngv, GT, `${c.name} gv`);
  }
});

test('logprobGatherBackward, with ignored rows, also aliased in place', () => {
  const rows = 5, vocab = 7, ignore = -100;
  const targets = Int32Array.from([3, ignore, 0, 6, ignore]);
  const logits = randn(rows * vocab, -3, 3), r = randn(rows);
  const out = new Float64Array(rows), lse = new Float64Array(rows);
  const fwd = () => {
    R.logprobGather(logits, targets, out, lse, rows, vocab, ignore);
    return dotAll(out, r);
  };
  fwd();
  assert.equal(out[1], 0);
  assert.equal(out[4], 0);
  const g = new Float64Array(rows * vocab);
  R.logprobGatherBackward(logits, targets, lse, r, g, rows, vocab, ignore);
  const ng = numGrad(fwd, logits);
  assertClose(g, ng, GT, 'glogits');
  for (let j = 0; j < vocab; j++) assert.equal(g[vocab + j], 0, 'ignored row is zero');
  const inPlace = logits.slice();
  R.logprobGatherBackward(inPlace, targets, lse, r, inPlace, rows, vocab, ignore);
  assertClose(inPlace, g, 1e-15, 'aliased glogits');
});

test('embeddingBackward scatter-adds repeated ids', () => {
  const vocab = 5, dim = 3;
  const ids = Int32Array.from([2, 0, 2, 4, 2]);
  const n = ids.length;
  const table = randn(vocab * dim), r = randn(n * dim), out = new Float64Array(n * dim);
  const fwd = () => {
    R.embedding(table, ids, out, n, dim);
    return dotAll(out, r);
  };
  fwd();
  const gt = new Float64Array(vocab * dim);
  R.embeddingBackward(r, ids, gt, n, dim);
  assertClose(gt, numGrad(fwd, table), GT, 'gtable');
  assert.ok(gt.slice(dim, 2 * dim).every((v) => v === 0), 'unused row stays zero');
});

test('binary ops: broadcast gradients via reduceSum', () => {
  // out (2,3,4) = a (2,1,4) op b (3,1)
  const shape = [2, 3, 4];
  const aStr = [4, 0, 1], bStr = [0, 1, 0];
  const nOut = 24;
  const a = randn(8, 0.5, 2), b = randn(3, 0.5, 2), r = randn(nOut);
  const aFull = new Float64Array(nOut), bFull = new Float64Array(nOut);
  R.copyStrided(a, 0, aStr, aFull, 0, shape);
  R.copyStrided(b, 0, bStr, bFull, 0, shape);
  const ones = new Float64Array(nOut).fill(1);
  for (const op of ['add', 'sub', 'mul', 'div'] as BinaryOp[]) {
    const out = new Float64Array(nOut);
    const fwd = () => {
      R.binary(op, a, 0, aStr, b, 0, bStr, out, shape);
      return dotAll(out, r);
    };
    fwd();
    // Local derivatives d out/d a and d out/d b, materialised at out's shape.
    const da = new Float64Array(nOut), db = new Float64Array(nOut);
    const full = [12, 4, 1]; // contiguous strides of shape
    if (op === 'add') { da.set(ones); db.set(ones); }
    if (op === 'sub') { da.set(ones); R.unary('neg', ones, db, nOut); }
    if (op === 'mul') { da.set(bFull); db.set(aFull); }
    if (op === 'div') {
      R.binary('div', ones, 0, full, bFull, 0, full, da, shape);
      R.binary('div', out, 0, full, bFull, 0, full, db, shape);
      R.unary('neg', db, db, nOut);
    }
    const ua = new Float64Array(nOut), ub = new Float64Array(nOut);
    R.binary('mul', r, 0, full, da, 0, full, ua, shape);
    R.binary('mul', r, 0, full, db, 0, full, ub, shape);
    const ga = new Float64Array(8).fill(9), gb = new Float64Array(3).fill(9);
    R.reduceSum(ua, shape, ga, aStr, 8);
    R.reduceSum(ub, shape, gb, bStr, 3);
    assertClose(ga, numGrad(fwd, a), GT, `${op} ga`);
    assertClose(gb, numGrad(fwd, b), GT, `${op} gb`);
  }
});

// ---- 2. cross-checks ----

function naiveMatmul(A: (i: number, p: number) => number, B: (p: number, j: number) => number, m: number, n: number, k: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += A(i, p) * B(p, j);
    c[i * n + j] = s;
  }
  return c;
}

test('matmul matches a triple loop (trans, offsets, shared B, accumulate, bf16 B, Float32Array)', () => {
  const m = 5, n = 3, k = 7, batch = 3;
  for (const transA of [false, true]) for (const transB of [false, true]) {
    const a = randn(1 + batch * m * k), bf = randn(4 + k * n);
    const b16 = new Uint16Array(bf.length);
    R.castToBf16(bf, b16, bf.length);
    for (const b of [bf, b16]) {
      const c = Float64Array.from(randn(batch * m * n));
      const c0 = c.slice();
      R.matmul({ a, aOffset: 1, strideA: m * k, transA, b, bOffset: 4, strideB: 0, transB, c, cOffset: 0, strideC: m * n, batch, m, n, k, accumulate: true });
      const bAt = (i: number) => (b instanceof Uint16Array ? bf16ToF32(b[i]) : b[i]);
      for (let i = 0; i < batch; i++) {
        const ao = 1 + i * m * k;
        const ref = naiveMatmul(
          (r, p) => (transA ? a[ao + p * m + r] : a[ao + r * k + p]),
          (p, j) => (transB ? bAt(4 + j * k + p) : bAt(4 + p * n + j)), m, n, k);
        const got = c.slice(i * m * n, (i + 1) * m * n).map((v, j) => v - c0[i * m * n + j]);
        assertClose(got, ref, 1e-12, `batch ${i} transA=${transA} transB=${transB} bf16=${b instanceof Uint16Array}`);
      }
    }
  }
  // Float32 output: one rounding of the exact sum.
  const a32 = Float32Array.from(randn(m * k)), b32 = Float32Array.from(randn(k * n)), c32 = new Float32Array(m * n);
  R.matmul({ a: a32, aOffset: 0, strideA: 0, transA: false, b: b32, bOffset: 0, strideB: 0, transB: false, c: c32, cOffset: 0, strideC: 0, batch: 1, m, n, k, accumulate: false });
  const ref = naiveMatmul((i, p) => a32[i * k + p], (p, j) => b32[p * n + j], m, n, k);
  assert.deepEqual(Array.from(c32), Array.from(ref, Math.fround));
});

test('loraGroups equals, per group, gather → x·Aᵀ → ·s → ·Bᵀ added → scatter, from matmul (the TypeScript path)', () => {
  const inF = 7, outF = 5, nRows = 9;
  const ranks = Int32Array.of(3, 0, 1, 4, 2);
  const rows = Int32Array.of(6, 0, 3, 8, 1, 5, 2); // rows 4 and 7 in no group; group 1 (rank 0) and group 4 empty
  const offsets = Int32Array.of(0, 2, 3, 5, 7, 7);
  const f32 = (n: number) => Float32Array.from(randn(n));
  const a = [...ranks].map((r) => f32(r * inF)), b = [...ranks].map((r) => f32(outF * r));
  const scales = Float32Array.of(0.5, 2, -1.25, 3, 1);
  const x = f32(nRows * inF), y0 = f32(nRows * outF);
  const y = y0.slice();
  R.loraGroups(x, y, inF, outF, rows, offsets, a, b, ranks, scales);
  const expected = Float64Array.from(y0);
  for (let g = 0; g < ranks.length; g++) {
    const r = ranks[g], picked = rows.subarray(offsets[g], offsets[g + 1]), n = picked.length;
    const xg = new Float64Array(n * inF), t = new Float64Array(n * r), yg = new Float64Array(n * outF);
    picked.forEach((row, i) => xg.set(x.subarray(row * inF, (row + 1) * inF), i * inF));
    R.matmul({ a: xg, aOffset: 0, strideA: 0, transA: false, b: Float64Array.from(a[g]), bOffset: 0, strideB: 0, transB: true, c: t, cOffset: 0, strideC: 0, batch: 1, m: n, n: r, k: inF, accumulate: false });
    R.affine(t, t, t.length, scales[g], 0);
    R.matmul({ a: t, aOffset: 0, strideA: 0, transA: false, b: Float64Array.from(b[g]), bOffset: 0, strideB: 0, transB: true, c: yg, cOffset: 0, strideC: 0, batch: 1, m: n, n: outF, k: r, accumulate: false });
    picked.forEach((row, i) => {
      for (let o = 0; o < outF; o++) expected[row * outF + o] += yg[i * outF + o];
    });
  }
  assertClose(y, expected, 1e-6, 'loraGroups');
  for (const row of [4, 7]) assert.deepEqual(y.subarray(row * outF, (row + 1) * outF), y0.subarray(row * outF, (row + 1) * outF));
  assert.throws(() => R.loraGroups(x, y.slice(), inF, outF, Int32Array.of(9), Int32Array.of(0, 1), [a[0]], [b[0]], ranks, scales), /row 9 at 0 is outside \[0, 9\)/);
});

test('attention equals softmax(scale·QKᵀ + mask)·V from matmul + softmax; lse is the log denominator', () => {
  for (const c of attnCases.filter((x) => !x.segments)) {
    const a = attnInputs(c);
    R.attention(a);
    const { batch, tq, tk, kvCap, hq, hkv, dim, scale } = a;
    for (let b = 0; b < batch; b++) for (let h = 0; h < hq; h++) {
      const kh = Math.floor(h / (hq / hkv));
      const Q = new Float64Array(tq * dim), K = new Float64Array(tk * dim), V = new Float64Array(tk * dim);
      R.copyStrided(a.q, (b * tq * hq + h) * dim, [hq * dim, 1], Q, 0, [tq, dim]);
      R.copyStrided(a.k, (b * kvCap * hkv + kh) * dim, [hkv * dim, 1], K, 0, [tk, dim]);
      R.copyStrided(a.v, (b * kvCap * hkv + kh) * dim, [hkv * dim, 1], V, 0, [tk, dim]);
      const S = new Float64Array(tq * tk), P = new Float64Array(tq * tk), O = new Float64Array(tq * dim);
      R.matmul({ a: Q, aOffset: 0, strideA: 0, transA: false, b: K, bOffset: 0, strideB: 0, transB: true, c: S, cOffset: 0, strideC: 0, batch: 1, m: tq, n: tk, k: dim, accumulate: false });
      R.affine(S, S, S.length, scale, 0);
      R.softmax(S, P, tq, tk, c.causal ? tq : 0, c.causal ? tk - tq : 0);
      R.matmul({ a: P, aOffset: 0, strideA: 0, transA: false, b: V, bOffset: 0, strideB: 0, transB: false, c: O, cOffset: 0, strideC: 0, batch: 1, m: tq, n: dim, k: tk, accumulate: false });
      const got = new Float64Array(tq * dim);
      R.copyStrided(a.o, (b * tq * hq + h) * dim, [hq * dim, 1], got, 0, [tq, dim]);
      assertClose(got, O, 1e-12, `${c.name} o b${b} h${h}`);
      for (let i = 0; i < tq; i++) {
        const last = c.causal ? tk - tq + i : tk - 1;
        let den = 0;
        for (let j = 0; j <= last; j++) den += Math.exp(S[i * tk + j]);
        assert.ok(Math.abs(a.lse[(b * hq + h) * tq + i] - Math.log(den)) < 1e-12, `${c.name} lse`);
      }
    }
  }
});

test('segments: a query ignores keys of other segments', () => {
  const c = attnCases[3];
  const a = attnInputs(c);
  R.attention(a);
  const o1 = a.o.slice();
  // Changing keys/values of segment 2 (positions 2..4) must not change outputs of segment 1 (queries 0, 1).
  for (let i = 2 * c.hkv * c.dim; i < a.k.length; i++) { a.k[i] += 1; a.v[i] -= 1; }
  R.attention(a);
  const seg1 = 2 * c.hq * c.dim;
  assert.deepEqual(Array.from(a.o.slice(0, seg1)), Array.from(o1.slice(0, seg1)));
  assert.notDeepEqual(Array.from(a.o.slice(seg1)), Array.from(o1.slice(seg1)));
});

test('logprobGather equals log(softmax) at the target', () => {
  const rows = 4, vocab = 9;
  const logits = randn(rows * vocab, -4, 4), targets = Int32Array.from([0, 8, 3, 3]);
  const out = new Float64Array(rows), lse = new Float64Array(rows), y = new Float64Array(rows * vocab);
  R.logprobGather(logits, targets, out, lse, rows, vocab, -1);
  R.softmax(logits, y, rows, vocab, 0, 0);
  for (let r = 0; r < rows; r++) assert.ok(Math.abs(out[r] - Math.log(y[r * vocab + targets[r]])) < 1e-12);
  // Large logits must not overflow.
  const big = Float32Array.from([1000, 999, -1000]), o32 = new Float32Array(1), l32 = new Float32Array(1);
  R.logprobGather(big, Int32Array.from([1]), o32, l32, 1, 3, -1);
  assert.ok(Math.abs(o32[0] - (-1 - Math.log1p(Math.exp(-1)))) < 1e-6);
  assert.throws(() => R.logprobGather(big, Int32Array.from([3]), o32, l32, 1, 3, -1), RangeError);
});

test('rope keeps pair norms, inverse undoes it (in place), conventions agree up to a permutation', () => {
  const rows = 4, heads = 3, dim = 6, half = dim / 2;
  const positions = Int32Array.from([0, 1, 5, 100]);
  const invFreq = Float32Array.from({ length: half }, (_, i) => Math.pow(10000, (-2 * i) / dim));
  const x = randn(rows * heads * dim);
  for (const interleaved of [false, true]) {
    const y = new Float64Array(x.length);
    R.rope(x, y, rows, heads, dim, positions, invFreq, interleaved, false);
    for (let v = 0; v < rows * heads; v++) for (let i = 0; i < half; i++) {
      const [i0, i1] = interleaved ? [v * dim + 2 * i, v * dim + 2 * i + 1] : [v * dim + i, v * dim + i + half];
      assert.ok(Math.abs(Math.hypot(y[i0], y[i1]) - Math.hypot(x[i0], x[i1])) < 1e-12, 'pair norm');
    }
    assert.ok(y.some((v, i) => Math.abs(v - x[i]) > 1e-3), 'rope changes x');
    R.rope(y, y, rows, heads, dim, positions, invFreq, interleaved, true);
    assertClose(y, x, 1e-12, `inverse interleaved=${interleaved}`);
  }
  // Half-split element i pairs with i+half; interleaved element 2i with 2i+1: permute (2, half) → (half, 2).
  const toInterleaved = (src: Float64Array) => {
    const dst = new Float64Array(src.length);
    R.copyStrided(src, 0, [heads * dim, dim, 1, half], dst, 0, [rows, heads, half, 2]);
    return dst;
  };
  const yHalf = new Float64Array(x.length), yInter = new Float64Array(x.length);
  R.rope(x, yHalf, rows, heads, dim, positions, invFreq, false, false);
  R.rope(toInterleaved(x), yInter, rows, heads, dim, positions, invFreq, true, false);
  assertClose(yInter, toInterleaved(yHalf), 1e-12, 'conventions');
});

test('copyStrided transposes; reduceSum sums the right dims', () => {
  const src = Float64Array.from({ length: 14 }, (_, i) => i);
  const dst = new Float64Array(14).fill(-1);
  // src[2 + i*4 + j] for a 3×4 view, transposed to 4×3 at dst offset 1.
  R.copyStrided(src, 2, [1, 4], dst, 1, [4, 3]);
  assert.deepEqual(Array.from(dst), [-1, 2, 6, 10, 3, 7, 11, 4, 8, 12, 5, 9, 13, -1]);
  const x = Float64Array.from({ length: 6 }, (_, i) => i + 1); // (2,3)
  const cols = new Float64Array(3).fill(5), rowsOut = new Float64Array(2), all = new Float64Array(1);
  R.reduceSum(x, [2, 3], cols, [0, 1], 3);
  R.reduceSum(x, [2, 3], rowsOut, [1, 0], 2);
  R.reduceSum(x, [2, 3], all, [0, 0], 1);
  assert.deepEqual(Array.from(cols), [5, 7, 9]);
  assert.deepEqual(Array.from(rowsOut), [6, 15]);
  assert.deepEqual(Array.from(all), [21]);
});

test('adamw one step against a hand computation', () => {
  const p = Float64Array.from([1, -2]), g = Float64Array.from([0.5, 0.1]), m = Float64Array.from([0.1, 0]), v = Float64Array.from([0.01, 0]);
  const lr = 0.1, b1 = 0.9, b2 = 0.99, eps = 1e-8, wd = 0.01, t = 2;
  R.adamw({ p, g, m, v, n: 2, lr, beta1: b1, beta2: b2, eps, weightDecay: wd, bc1: 1 - b1 ** t, bc2: 1 - b2 ** t });
  // element 0: m = 0.09 + 0.05 = 0.14; v = 0.0099 + 0.0025 = 0.0124; p = 1 - 0.001 = 0.999, then - 0.1·(0.14/0.19)/(sqrt(0.0124/0.0199)+1e-8)
  const exp0 = 0.999 - (0.1 * (0.14 / 0.19)) / (Math.sqrt(0.0124 / 0.0199) + 1e-8);
  const exp1 = -2 * (1 - 0.001) - (0.1 * (0.01 / 0.19)) / (Math.sqrt(0.0001 / 0.0199) + 1e-8);
  assertClose(m, [0.14, 0.01], 1e-15, 'm');
  assertClose(v, [0.0124, 0.0001], 1e-15, 'v');
  assertClose(p, [exp0, exp1], 1e-14, 'p');
});

test('bf16 conversion: rounding half to even, NaN, Inf, max finite', () => {
  const u = new Uint32Array(1), f = new Float32Array(u.buffer);
  const fromBits = (bits: number) => { u[0] = bits; return f[0]; };
  assert.equal(f32ToBf16(1), 0x3f80);
  assert.equal(f32ToBf16(-2), 0xc000);
  assert.equal(f32ToBf16(fromBits(0x3f808000)), 0x3f80); // tie, even stays
  assert.equal(f32ToBf16(fromBits(0x3f818000)), 0x3f82); // tie, odd rounds up
  assert.equal(f32ToBf16(fromBits(0x3f808001)), 0x3f81); // above the tie
  assert.equal(f32ToBf16(fromBits(0x3f807fff)), 0x3f80); // below the tie
  assert.equal(f32ToBf16(Infinity), 0x7f80);
  assert.equal(f32ToBf16(-Infinity), 0xff80);
  assert.equal(f32ToBf16(fromBits(0x7f7f0000)), 0x7f7f); // largest bf16 is exact
  assert.equal(f32ToBf16(3.4028234663852886e38), 0x7f80); // float32 max rounds up to Inf
  assert.equal(f32ToBf16(-0), 0x8000);
  const nan = f32ToBf16(NaN);
  assert.ok(Number.isNaN(bf16ToF32(nan)) && (nan & 0x0040) !== 0, 'quiet NaN');
  assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(fromBits(0x7f800001)))), 'signalling NaN with low payload stays NaN');
  assert.equal(bf16ToF32(0x3f80), 1);
  assert.equal(bf16ToF32(0x7f7f), fromBits(0x7f7f0000));
  assert.equal(bf16ToF32(0xff80), -Infinity);
  // Casts round-trip through the backend ops.
  const src = Float32Array.from([1, fromBits(0x3f818000), -0.5, NaN]), b = new Uint16Array(4), back = new Float32Array(4);
  R.castToBf16(src, b, 4);
  R.castFromBf16(b, back, 4);
  assert.deepEqual(Array.from(b.slice(0, 3)), [0x3f80, 0x3f82, 0xbf00]);
  assert.deepEqual(Array.from(back.slice(0, 3)), [1, bf16ToF32(0x3f82), -0.5]);
  assert.ok(Number.isNaN(back[3]));
});

test('unary values: stable logsigmoid/sigmoid at extremes, fill, affine, sumSquares, embedding from bf16', () => {
  const x = Float64Array.from([-1000, 0, 1000, 2]), y = new Float64Array(4);
  R.unary('logsigmoid', x, y, 4);
  assert.deepEqual(Array.from(y.slice(0, 3)), [-1000, -Math.LN2, 0]);
  assert.ok(Math.abs(y[3] - Math.log(1 / (1 + Math.exp(-2)))) < 1e-15);
  R.unary('sigmoid', x, y, 3);
  assert.deepEqual(Array.from(y.slice(0, 3)), [0, 0.5, 1]);
  R.unary('silu', x, y, 4);
  assert.ok(Math.abs(y[3] - 2 / (1 + Math.exp(-2))) < 1e-15);
  const out = new Float32Array(5);
  R.fill(out, 1, 3, 2.5);
  assert.deepEqual(Array.from(out), [0, 2.5, 2.5, 2.5, 0]);
  R.affine(out, out, 5, 2, -1);
  assert.deepEqual(Array.from(out), [-1, 4, 4, 4, -1]);
  assert.equal(R.sumSquares(out, 4), 1 + 48);
  const table = new Uint16Array([0x3f80, 0x4000, 0xbf80, 0x4040]); // (2, 2): [1, 2], [-1, 3]
  const e = new Float32Array(6);
  R.embedding(table, Int32Array.from([1, 0, 1]), e, 3, 2);
  assert.deepEqual(Array.from(e), [-1, 3, 1, 2, -1, 3]);
  assert.throws(() => R.embedding(table, Int32Array.from([2]), e, 1, 2), RangeError);
});
