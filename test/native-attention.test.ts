// Native fused attention against the reference backend: o, lse and all three gradients, every ISA, 1 and 2 threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAddon } from '../src/backend/addon.ts';
import { nativeAttention } from '../src/backend/native-attention.ts';
import { referenceBackend } from '../src/backend/reference.ts';
import type { AttentionArgs } from '../src/backend/backend.ts';

const addon = loadAddon();
const skip = addon === null ? 'native addon not built' : false;

interface Case {
  name: string;
  batch: number; tq: number; tk: number; kvCap: number; hq: number; hkv: number; dim: number;
  causal: boolean; segments?: Int32Array;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randn(n: number, r: () => number, amp = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * amp;
  return a;
}

// Packed sequences: 3 segments of uneven lengths per batch row, different cut points per row.
// (interleaved: ids drawn at random, so segments are not contiguous runs.)
function segments(batch: number, t: number, interleaved = false): Int32Array {
  if (interleaved) {
    const r = rng(t);
    return Int32Array.from({ length: batch * t }, () => Math.floor(r() * 3));
  }
  const s = new Int32Array(batch * t);
  for (let b = 0; b < batch; b++) {
    const c1 = Math.max(1, Math.floor(t * (0.15 + 0.2 * b))), c2 = Math.max(c1 + 1, Math.floor(t * 0.8));
    for (let i = 0; i < t; i++) s[b * t + i] = 10 * b + (i < c1 ? 0 : i < c2 ? 1 : 2);
  }
  return s;
}

const cases: Case[] = [];
const sq = (name: string, batch: number, t: number, hq: number, hkv: number, dim: number, causal = true, seg: boolean | 'interleaved' = false): void => {
  const segs = seg === false ? undefined : segments(batch, t, seg === 'interleaved');
  cases.push({ name, batch, tq: t, tk: t, kvCap: t, hq, hkv, dim, causal, segments: segs });
};
for (const t of [1, 5, 63, 64, 65, 130]) sq(`B=2 T=${t} Hq=4 Hkv=1 D=16`, 2, t, 4, 1, 16);
sq('T=65 Hq=Hkv=2 D=64', 1, 65, 2, 2, 64);
sq('T=64 Hq=Hkv=3 D=80', 1, 64, 3, 3, 80);
sq('T=37 Hq=4 Hkv=1 D=1', 1, 37, 4, 1, 1);
sq('T=50 Hq=2 Hkv=1 D=7', 2, 50, 2, 1, 7);
sq('T=40 Hq=Hkv=1 D=8', 1, 40, 1, 1, 8);
sq('T=70 Hq=4 Hkv=2 D=128', 1, 70, 4, 2, 128);
sq('non-causal T=70 Hq=4 Hkv=1 D=16', 2, 70, 4, 1, 16, false);
sq('non-causal T=33 Hq=Hkv=2 D=7', 1, 33, 2, 2, 7, false);
sq('segments causal T=90 Hq=4 Hkv=1 D=16', 2, 90, 4, 1, 16, true, true);
sq('segments non-causal T=70 Hq=Hkv=2 D=64', 2, 70, 2, 2, 64, false, true);
sq('interleaved segments causal T=100 Hq=2 Hkv=1 D=16', 1, 100, 2, 1, 16, true, 'interleaved');
sq('interleaved segments non-causal T=60 Hq=Hkv=1 D=7', 2, 60, 1, 1, 7, false, 'interleaved');
// Big enough to run threaded (and, with 2 kv heads, to split the backward over key ranges).
sq('threaded T=130 Hq=8 Hkv=2 D=64', 1, 130, 8, 2, 64);
sq('threaded segments T=200 Hq=4 Hkv=1 D=64', 1, 200, 4, 1, 64, true, true);
cases.push(
  { name: 'offset causal Tq=3 Tk=100 cap=128 D=80', batch: 2, tq: 3, tk: 100, kvCap: 128, hq: 8, hkv: 2, dim: 80, causal: true },
  { name: 'decode Tq=1 Tk=77 cap=96 Hq=4 Hkv=1 D=64', batch: 2, tq: 1, tk: 77, kvCap: 96, hq: 4, hkv: 1, dim: 64, causal: true },
  { name: 'decode Tq=1 Tk=40 cap=64 Hq=Hkv=3 D=7', batch: 1, tq: 1, tk: 40, kvCap: 64, hq: 3, hkv: 3, dim: 7, causal: true },
  { name: 'decode Tq=1 Tk=30 Hq=8 Hkv=1 D=16', batch: 1, tq: 1, tk: 30, kvCap: 30, hq: 8, hkv: 1, dim: 16, causal: true },
  { name: 'decode Tq=2 Tk=50 Hq=4 Hkv=2 D=16', batch: 1, tq: 2, tk: 50, kvCap: 64, hq: 4, hkv: 2, dim: 16, causal: true },
  { name: 'non-causal Tq=4 Tk=20 D=16', batch: 1, tq: 4, tk: 20, kvCap: 20, hq: 2, hkv: 1, dim: 16, causal: false },
  // Long enough for the threaded decode to split the keys and merge the pieces.
  { name: 'split decode Tq=1 Tk=1500 cap=1600 Hq=8 Hkv=2 D=64', batch: 1, tq: 1, tk: 1500, kvCap: 1600, hq: 8, hkv: 2, dim: 64, causal: true },
  { name: 'split prefill chunk Tq=5 Tk=1500 Hq=4 Hkv=1 D=64', batch: 1, tq: 5, tk: 1500, kvCap: 1500, hq: 4, hkv: 1, dim: 64, causal: true },
);

const SENTINEL = 7.25;

interface Outputs { o: Float32Array; lse: Float32Array; gq: Float32Array; gk: Float32Array; gv: Float32Array }

function inputs(c: Case) {
  const r = rng(c.batch * 1000 + c.tq * 31 + c.tk * 7 + c.dim);
  const qn = c.batch * c.tq * c.hq * c.dim, kn = c.batch * c.kvCap * c.hkv * c.dim;
  const base: Omit<AttentionArgs, 'o' | 'lse'> = {
    q: randn(qn, r, 2), k: randn(kn, r, 2), v: randn(kn, r), batch: c.batch, tq: c.tq, tk: c.tk, kvCap: c.kvCap,
    hq: c.hq, hkv: c.hkv, dim: c.dim, scale: 1 / Math.sqrt(c.dim), causal: c.causal, segments: c.segments,
  };
  return { base, go: randn(qn, r), qn, kn };
}

function run(be: Pick<typeof referenceBackend, 'attention' | 'attentionBackward'>, c: Case, ref?: Outputs): Outputs {
  const { base, go, qn, kn } = inputs(c);
  const out: Outputs = {
    o: new Float32Array(qn).fill(SENTINEL), lse: new Float32Array(c.batch * c.hq * c.tq).fill(SENTINEL),
    gq: new Float32Array(qn).fill(SENTINEL), gk: new Float32Array(kn).fill(SENTINEL), gv: new Float32Array(kn).fill(SENTINEL),
  };
  be.attention({ ...base, o: out.o, lse: out.lse });
  // Backward from the reference's o and lse, so each half is compared on its own.
  be.attentionBackward({ ...base, o: ref?.o ?? out.o, lse: ref?.lse ?? out.lse, go, gq: out.gq, gk: out.gk, gv: out.gv });
  return out;
}

function assertClose(name: string, got: Float32Array, want: Float32Array, rel: number): void {
  let scale = 1;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  const tol = rel * scale;
  for (let i = 0; i < want.length; i++) {
    const ok = Number.isFinite(got[i]) && Math.abs(got[i] - want[i]) <= tol;
    if (!ok) assert.fail(`${name}[${i}] = ${got[i]}, want ${want[i]} (tol ${tol.toExponential(2)})`);
  }
}

function isas(): string[] {
  const all = ['avx512', 'avx2', 'scalar'];
  const best = addon!.detectedIsa();
  return all.slice(all.indexOf(best));
}

function forEachConfig(body: (label: string) => void): void {
  const isa0 = addon!.isa(), threads0 = addon!.numThreads();
  try {
    for (const isa of isas()) {
      assert.equal(addon!.setIsa(isa), true);
      for (const threads of [1, 2]) {
        addon!.setThreads(threads);
        body(`${isa} ${threads}t`);
      }
    }
  } finally {
    addon!.setIsa(isa0);
    addon!.setThreads(threads0);
  }
}

test('native attention matches the reference: o, lse, gq, gk, gv', { skip }, () => {
  const native = nativeAttention(addon!);
  const refs = cases.map((c) => run(referenceBackend, c));
  forEachConfig((config) => {
    cases.forEach((c, i) => {
      const ref = refs[i];
      const got = run(native, c, ref);
      const label = `${c.name} [${config}]`;
      assertClose(`${label} o`, got.o, ref.o, 2e-5);
      assertClose(`${label} lse`, got.lse, ref.lse, 2e-6);
      assertClose(`${label} gq`, got.gq, ref.gq, 5e-5);
      assertClose(`${label} gk`, got.gk, ref.gk, 5e-5);
      assertClose(`${label} gv`, got.gv, ref.gv, 5e-5);
    });
  });
});

test('native attention leaves k/v positions >= tk untouched', { skip }, () => {
  const native = nativeAttention(addon!);
  const c = cases.find((x) => x.name.startsWith('offset causal'))!;
  const got = run(native, c);
  const stride = c.hkv * c.dim;
  for (let b = 0; b < c.batch; b++) {
    for (let j = 0; j < c.kvCap; j++) {
      for (let e = 0; e < stride; e++) {
        const at = (b * c.kvCap + j) * stride + e;
        if (j >= c.tk) assert.equal(got.gk[at], SENTINEL, `gk written past tk at ${at}`);
        else assert.notEqual(got.gk[at], SENTINEL, `gk not written at ${at}`);
        if (j >= c.tk) assert.equal(got.gv[at], SENTINEL, `gv written past tk at ${at}`);
      }
    }
  }
});

test('native attention checks sizes and array lengths', { skip }, () => {
  const a = addon!;
  const B = 2, T = 8, H = 4, HKV = 2, D = 16;
  const q = new Float32Array(B * T * H * D), kv = new Float32Array(B * T * HKV * D), lse = new Float32Array(B * H * T);
  const fwd = (over: Record<string, unknown>) => {
    const x = { q, k: kv, v: kv, o: new Float32Array(q.length), lse, seg: null as unknown, batch: B, tq: T, tk: T, kvCap: T, hq: H, hkv: HKV, dim: D, scale: 0.25, causal: true, ...over };
    a.attention(x.q, x.k, x.v, x.o, x.lse, x.seg, x.batch, x.tq, x.tk, x.kvCap, x.hq, x.hkv, x.dim, x.scale, x.causal);
  };
  const bwd = (over: Record<string, unknown>) => {
    const x = { q, k: kv, v: kv, o: q, lse, go: q, gq: new Float32Array(q.length), gk: new Float32Array(kv.length), gv: new Float32Array(kv.length), seg: null as unknown, ...over };
    a.attentionBackward(x.q, x.k, x.v, x.o, x.lse, x.go, x.gq, x.gk, x.gv, x.seg, B, T, T, T, H, HKV, D, 0.25, true);
  };
  fwd({});
  bwd({});
  for (const name of ['q', 'k', 'v', 'o', 'lse']) {
    const short = new Float32Array((name === 'lse' ? lse.length : name === 'k' || name === 'v' ? kv.length : q.length) - 1);
    assert.throws(() => fwd({ [name]: short }), TypeError, `short ${name}`);
    assert.throws(() => fwd({ [name]: new Float64Array(q.length * 2) }), TypeError, `Float64Array ${name}`);
  }
  for (const name of ['q', 'k', 'v', 'o', 'lse', 'go', 'gq', 'gk', 'gv']) {
    const full = name === 'lse' ? lse.length : ['k', 'v', 'gk', 'gv'].includes(name) ? kv.length : q.length;
    assert.throws(() => bwd({ [name]: new Float32Array(full - 1) }), TypeError, `short ${name} (backward)`);
  }
  assert.throws(() => fwd({ seg: new Int32Array(B * T - 1) }), TypeError);
  assert.throws(() => fwd({ seg: new Float32Array(B * T) }), TypeError);
  assert.throws(() => bwd({ seg: new Int32Array(B * T - 1) }), TypeError);
  assert.throws(() => fwd({ kvCap: T + 1 }), TypeError, 'k sized for kvCap = T');
  assert.throws(() => fwd({ batch: 3 }), TypeError);
  assert.throws(() => fwd({ dim: 1.5 }), TypeError);
  assert.throws(() => fwd({ tq: -1 }), TypeError);
  assert.throws(() => fwd({ scale: Number.NaN }), TypeError);
  assert.throws(() => fwd({ causal: 1 }), TypeError);
  assert.throws(() => fwd({ hkv: 3 }), RangeError);
  assert.throws(() => fwd({ hkv: 0 }), RangeError);
  assert.throws(() => fwd({ tk: T + 1 }), RangeError, 'tk > kvCap');
  assert.throws(() => fwd({ tk: T - 1, causal: true }), RangeError, 'causal tq > tk');
  assert.throws(() => fwd({ tk: T - 1, causal: false, seg: new Int32Array(B * T) }), RangeError, 'segments need tq == tk');
  assert.throws(() => (a.attention as (...x: unknown[]) => void)(q, kv, kv), TypeError);
});

test('attentionCached: each sequence appends to its own cache and attends to it, as the reference (every ISA, 1 and 2 threads)', { skip }, () => {
  const native = nativeAttention(addon!);
  // Sequences of different lengths (one empty, one past a key tile, one long enough to split keys when alone),
  // grouped-query heads, one new position (decode) or several (a prompt), and a single sequence.
  for (const { batch, tq, hq, hkv, dim, lengths } of [
    { batch: 4, tq: 1, hq: 6, hkv: 2, dim: 16, lengths: [0, 5, 70, 300] },
    { batch: 3, tq: 5, hq: 4, hkv: 4, dim: 20, lengths: [0, 9, 64] },
    { batch: 1, tq: 1, hq: 9, hkv: 3, dim: 64, lengths: [2000] },
  ]) {
    const r = rng(batch * 100 + tq);
    const caps = lengths.map((l, b) => l + tq + b); // a spare position or more after the new ones
    const q = randn(batch * tq * hq * dim, r), newK = randn(batch * tq * hkv * dim, r), newV = randn(newK.length, r);
    const caches = caps.map((c) => [randn(c * hkv * dim, r), randn(c * hkv * dim, r)] as const);
    const run = (be: Pick<typeof referenceBackend, 'attentionCached'>) => {
      const ks = caches.map(([k]) => Float32Array.from(k)), vs = caches.map(([, v]) => Float32Array.from(v));
      const o = new Float32Array(q.length);
      be.attentionCached({ q, newK, newV, ks, vs, o, lengths: Int32Array.from(lengths), batch, tq, hq, hkv, dim, scale: 1 / Math.sqrt(dim) });
      return { o, ks, vs };
    };
    const want = run(referenceBackend);
    // The reference itself: the new rows land at `length`, nothing else in a cache moves.
    want.ks.forEach((k, b) => {
      const at = lengths[b]! * hkv * dim, row = tq * hkv * dim;
      assert.deepEqual(k.subarray(at, at + row), newK.subarray(b * row, (b + 1) * row));
      assert.deepEqual(k.subarray(0, at), caches[b]![0].subarray(0, at));
      assert.deepEqual(k.subarray(at + row), caches[b]![0].subarray(at + row));
    });
    forEachConfig((config) => {
      const got = run(native);
      const label = `batch ${batch}, tq ${tq}, lengths ${lengths.join('/')} [${config}]`;
      assertClose(`${label} o`, got.o, want.o, 2e-5);
      got.ks.forEach((k, b) => assert.deepEqual(k, want.ks[b], `${label}: cache k of sequence ${b}`));
      got.vs.forEach((v, b) => assert.deepEqual(v, want.vs[b], `${label}: cache v of sequence ${b}`));
    });
  }
});

test('attentionCached refuses a sequence whose new positions do not fit its cache', { skip }, () => {
  const [hq, hkv, dim] = [2, 1, 8];
  const args = (cap: number) => ({
    q: new Float32Array(2 * hq * dim), newK: new Float32Array(2 * hkv * dim), newV: new Float32Array(2 * hkv * dim),
    ks: [new Float32Array(4 * hkv * dim), new Float32Array(cap * hkv * dim)], vs: [new Float32Array(4 * hkv * dim), new Float32Array(cap * hkv * dim)],
    o: new Float32Array(2 * hq * dim), lengths: Int32Array.of(0, 3), batch: 2, tq: 1, hq, hkv, dim, scale: 1,
  });
  for (const be of [nativeAttention(addon!), referenceBackend]) {
    assert.throws(() => be.attentionCached(args(3)), /sequence 1: 3 stored \+ 1 new positions exceed its cache of 3/);
    be.attentionCached(args(4));
  }
});
