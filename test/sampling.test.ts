// Sampling rules (temperature, top-k, top-p, min-p, repetition penalty) and stop-string matching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/tensor/random.ts';
import { argmax, sampleToken } from '../src/generate/sampling.ts';
import { StopMatcher } from '../src/generate/stop.ts';

const probs = [0.5, 0.3, 0.15, 0.05];
const logits = () => Float32Array.from(probs, Math.log);

function histogram(opts: Parameters<typeof sampleToken>[1], n = 4000, seed = 1): number[] {
  const rng = new Rng(seed);
  const counts = new Array<number>(probs.length).fill(0);
  for (let i = 0; i < n; i++) counts[sampleToken(logits(), opts, rng)]!++;
  return counts.map((c) => c / n);
}

test('argmax: the first of ties, at any length and position; NaNs ignored; 0 when nothing compares', () => {
  const rng = new Rng(5);
  for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 1000, 1003]) {
    const x = Float32Array.from({ length: n }, () => rng.uniform() * 10 - 5);
    for (const at of [0, n - 1, n >> 1]) {
      const y = Float32Array.from(x);
      y[at] = 6;
      assert.equal(argmax(y), at, `n ${n}, max at ${at}`);
      if (at + 1 < n) {
        y[n - 1] = 6; // a tie after it
        assert.equal(argmax(y), at, `n ${n}, tie after ${at}`);
      }
    }
  }
  assert.equal(argmax([NaN, 1, NaN, 3, 2]), 3);
  assert.equal(argmax([NaN, NaN, NaN]), 0);
  assert.equal(argmax([-Infinity, -Infinity]), 0);
  assert.equal(argmax([-Infinity, -5, -Infinity, -Infinity, -Infinity, -1]), 5);
});

test('greedy and top-k 1 pick the argmax whatever the seed', () => {
  assert.equal(sampleToken(logits(), { temperature: 0 }, new Rng(5)), 0);
  for (let s = 0; s < 20; s++) assert.equal(sampleToken(logits(), { temperature: 1.5, topK: 1 }, new Rng(s)), 0);
  assert.equal(argmax([1, 3, 2]), 1);
});

test('temperature 1 samples the softmax distribution', () => {
  histogram({ temperature: 1 }).forEach((p, i) => assert.ok(Math.abs(p - probs[i]!) < 0.03, `token ${i}: ${p}`));
});

test('top-k, top-p and min-p cut the tail and renormalise', () => {
  const k2 = histogram({ temperature: 1, topK: 2 });
  assert.equal(k2[2]! + k2[3]!, 0);
  assert.ok(Math.abs(k2[0]! - 0.5 / 0.8) < 0.03);
  const p = histogram({ temperature: 1, topP: 0.7 }); // 0.5 + 0.3 reaches 0.7
  assert.equal(p[2]! + p[3]!, 0);
  assert.ok(p[1]! > 0.3);
  const m = histogram({ temperature: 1, minP: 0.4 }); // keeps p >= 0.2
  assert.equal(m[2]! + m[3]!, 0);
  const all = histogram({ temperature: 1, topP: 1, minP: 0 });
  assert.ok(all[3]! > 0.02);
});

test('the same seed gives the same samples; another seed differs', () => {
  const run = (seed: number) => Array.from({ length: 50 }, ((rng) => () => sampleToken(logits(), { temperature: 1 }, rng))(new Rng(seed)));
  assert.deepEqual(run(3), run(3));
  assert.notDeepEqual(run(3), run(4));
});

test('repetition penalty divides positive and multiplies negative logits of seen tokens', () => {
  const l = Float32Array.from([2, 1.9, -1, -1.1]);
  assert.equal(sampleToken(l, { temperature: 0, repetitionPenalty: 1.2 }, new Rng(0), [0, 0]), 1);
  assert.ok(Math.abs(l[0]! - 2 / 1.2) < 1e-6);
  const n = Float32Array.from([-5, -1, -1.1]);
  sampleToken(n, { temperature: 0, repetitionPenalty: 2 }, new Rng(0), [1]);
  assert.equal(n[1], -2);
});

test('stop strings: found across pieces, and text that may start one is held back', () => {
  const m = new StopMatcher(['\n\n', 'END']);
  assert.equal(m.find('hello\n\nworld', 0), 5);
  assert.equal(m.find('abcEN', 0), -1);
  assert.equal(m.find('abcEND', 4), 3);
  assert.equal(m.safeLength('abcEN'), 3);
  assert.equal(m.safeLength('abc\n'), 3);
  assert.equal(m.safeLength('abc'), 3);
});

test('unfiltered sampling picks the token whose cumulative mass reaches r·total, the filtered path\'s arithmetic', () => {
  const rng = new Rng(5);
  for (let trial = 0; trial < 50; trial++) {
    const logits = Float32Array.from({ length: 37 + trial }, () => (rng.uniform() - 0.5) * 8);
    const seed = 100 + trial;
    const got = sampleToken(Float32Array.from(logits), { temperature: 0.7 }, new Rng(seed));
    // The same draw by hand: probabilities relative to the maximum, summed in order, the first id whose prefix reaches r.
    const max = Math.max(...logits);
    const probs = Array.from(logits, (l) => Math.exp((l - max) / 0.7));
    let r = new Rng(seed).uniform() * probs.reduce((a, b) => a + b, 0);
    const want = probs.findIndex((p) => (r -= p) <= 0);
    assert.equal(got, want === -1 ? probs.length - 1 : want);
  }
});
