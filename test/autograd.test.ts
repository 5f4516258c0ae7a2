// Every differentiable op's gradient against float64 finite differences, through the autograd tape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.ts';
import { loraLinear } from '../src/tensor/ops/lora.ts';
import { gradcheck, leaf } from './helpers/gradcheck.ts';

const rng = new T.Rng(1234);

test('elementwise ops with broadcasting', () => {
  const shapes: [number[], number[]][] = [[[2, 3], [2, 3]], [[2, 1, 4], [3, 1]], [[4], [3, 4]], [[2, 3], [1]]];
  for (const [sa, sb] of shapes) {
    for (const op of [T.add, T.sub, T.mul]) gradcheck(([a, b]) => op(a!, b!), [leaf(sa, rng), leaf(sb, rng)]);
    gradcheck(([a, b]) => T.div(a!, b!), [leaf(sa, rng), leaf(sb, rng, 0.5, 2)]);
  }
});

test('unary ops and scalar affine maps', () => {
  for (const op of [T.exp, T.neg, T.square, T.tanh, T.sigmoid, T.silu, T.logSigmoid]) gradcheck(([x]) => op(x!), [leaf([3, 5], rng, -3, 3)]);
  for (const op of [T.log, T.sqrt]) gradcheck(([x]) => op(x!), [leaf([7], rng, 0.3, 3)]);
  gradcheck(([x]) => T.relu(x!), [leaf([9], rng, 0.1, 1)]);
  gradcheck(([x]) => T.relu(x!), [leaf([9], rng, -1, -0.1)]);
  gradcheck(([x]) => T.scale(x!, -2.5), [leaf([4], rng)]);
  gradcheck(([x]) => T.addScalar(x!, 3), [leaf([4], rng)]);
});

test('minimum, maximum and clamp: values, and gradients on either side of the kink', () => {
  const a = T.tensor([1, -2, 3, 0.5], [4], 'f64');
  const b = T.tensor([2, -3, 3, 0.25], [4], 'f64');
  assert.deepEqual(T.minimum(a, b).toArray(), [1, -3, 3, 0.25]);
  assert.deepEqual(T.maximum(a, b).toArray(), [2, -2, 3, 0.5]);
  assert.deepEqual(T.clamp(T.tensor([0.5, 0.9, 1.1, 1.5], [4], 'f64'), 0.8, 1.2).toArray(), [0.8, 0.9, 1.1, 1.2]);
  assert.deepEqual(T.clamp(T.tensor([-1, 2], [2], 'f64'), undefined, 1).toArray(), [-1, 1]);
  for (const op of [T.minimum, T.maximum]) gradcheck(([x, y]) => op(x!, y!), [leaf([3, 4], rng), leaf([4], rng)]);
  // Values spread over both sides of both bounds (none within eps of a bound, where the derivative jumps).
  const x = T.tensor([-0.9, -0.55, -0.3, 0.1, 0.35, 0.45, 0.7, 0.95], [8], 'f64').requireGrad();
  gradcheck(([v]) => T.clamp(v!, -0.4, 0.4), [x]);
  gradcheck(([v]) => T.clamp(v!, -0.4), [x]);
  gradcheck(([v]) => T.clamp(v!, undefined, 0.4), [x]);
  T.backward(T.sum(T.clamp(x, -0.4, 0.4)));
  assert.deepEqual(x.grad!.toArray(), [0, 0, 1, 1, 1, 0, 0, 0]);
});

test('sum and mean over all and chosen axes', () => {
  gradcheck(([x]) => T.sum(x!), [leaf([2, 3, 4], rng)]);
  gradcheck(([x]) => T.sum(x!, [1]), [leaf([2, 3, 4], rng)]);
  gradcheck(([x]) => T.sum(x!, [0, 2], true), [leaf([2, 3, 4], rng)]);
  gradcheck(([x]) => T.mean(x!, [-1]), [leaf([2, 3, 4], rng)]);
});

test('matmul with every transpose, batched and with a shared right operand', () => {
  for (const transA of [false, true])
    for (const transB of [false, true]) {
      const a = leaf(transA ? [2, 5, 3] : [2, 3, 5], rng);
      const b = leaf(transB ? [2, 4, 5] : [2, 5, 4], rng);
      gradcheck(([x, y]) => T.matmul(x!, y!, { transA, transB }), [a, b]);
      const b2 = leaf(transB ? [4, 5] : [5, 4], rng);
      if (!transA) gradcheck(([x, y]) => T.matmul(x!, y!, { transB }), [leaf([2, 3, 5], rng), b2]);
    }
  gradcheck(([x, w, b]) => T.linear(x!, w!, b!), [leaf([2, 3, 4], rng), leaf([6, 4], rng), leaf([6], rng)]);
});

test('shape ops: reshape, permute, transpose, narrow, cat', () => {
  gradcheck(([x]) => T.mul(T.reshape(x!, [3, -1]), T.reshape(x!, [3, 4])), [leaf([2, 6], rng)]);
  gradcheck(([x]) => T.permute(x!, [2, 0, 1]), [leaf([2, 3, 4], rng)]);
  gradcheck(([x]) => T.transpose(x!), [leaf([3, 5], rng)]);
  gradcheck(([x]) => T.narrow(x!, 0, 1, 2), [leaf([4, 3], rng)]);
  gradcheck(([x]) => T.narrow(x!, 1, 1, 2), [leaf([2, 4, 3], rng)]);
  gradcheck(([x]) => T.narrow(x!, 2, 1, 2), [leaf([1, 1, 4], rng)]); // one contiguous run: a view
  gradcheck(([x]) => T.narrow(x!, 1, 2, 3), [leaf([70, 6], rng)]); // many rows: the strided copy
  gradcheck(([a, b]) => T.cat([a!, b!, a!], 1), [leaf([2, 3, 2], rng), leaf([2, 1, 2], rng)]);
});

test('narrow takes the same elements as a per-index read, whether a view, a copy by rows or a strided copy', () => {
  const cases: [number[], number, number, number][] = [[[1, 1, 9], 2, 3, 4], [[1, 5, 4], 1, 1, 3], [[3, 5, 4], 1, 2, 2], [[80, 7], 1, 2, 4], [[6, 5], 0, 1, 3]];
  for (const [shape, axis, start, length] of cases) {
    const x = T.tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i * 0.5 - 3), shape);
    const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const dim = shape[axis]!;
    const got = T.narrow(x, axis, start, length).toArray();
    const want: number[] = [];
    for (let o = 0; o < x.size / (dim * inner); o++)
      for (let i = start; i < start + length; i++)
        for (let e = 0; e < inner; e++) want.push((o * dim + i) * inner * 0.5 + e * 0.5 - 3);
    assert.deepEqual(got, want, `narrow of [${shape.join(', ')}] on axis ${axis}`);
  }
});

test('embedding, rmsnorm, rope, swiglu, softmax', () => {
  const ids = new Int32Array([3, 1, 3, 0, 2, 3]);
  gradcheck(([w]) => T.embedding(w!, ids, [2, 3]), [leaf([5, 4], rng)]);
  gradcheck(([x, w]) => T.rmsnorm(x!, w!, 1e-5), [leaf([3, 6], rng), leaf([6], rng)]);
  const positions = new Int32Array([0, 1, 2, 5, 6, 7]);
  for (const interleaved of [true, false])
    gradcheck(([x]) => T.rope(x!, { positions, invFreq: T.ropeFrequencies(4, 10000), interleaved }), [leaf([2, 3, 2, 4], rng)]);
  gradcheck(([g, u]) => T.swiglu(g!, u!), [leaf([3, 4], rng, -3, 3), leaf([3, 4], rng)]);
  gradcheck(([x]) => T.softmax(x!), [leaf([3, 5], rng, -2, 2)]);
  gradcheck(([x]) => T.softmax(x!, true), [leaf([2, 3, 5], rng, -2, 2)]);
});

test('attention: grouped-query, causal, with a KV offset and with segments', () => {
  const [b, t, hq, hkv, d] = [2, 5, 4, 2, 3];
  gradcheck(([q, k, v]) => T.attention(q!, k!, v!, { causal: true }), [leaf([b, t, hq, d], rng), leaf([b, t, hkv, d], rng), leaf([b, t, hkv, d], rng)]);
  gradcheck(([q, k, v]) => T.attention(q!, k!, v!, { causal: true }), [leaf([1, 2, 2, d], rng), leaf([1, 6, 1, d], rng), leaf([1, 6, 1, d], rng)]);
  gradcheck(([q, k, v]) => T.attention(q!, k!, v!, { causal: false, scale: 0.7 }), [leaf([1, 3, 2, d], rng), leaf([1, 4, 2, d], rng), leaf([1, 4, 2, d], rng)]);
  const segments = new Int32Array([0, 0, 1, 1, 1, 0, 0, 0, 0, 2]);
  gradcheck(([q, k, v]) => T.attention(q!, k!, v!, { causal: true, segments }), [leaf([b, t, hq, d], rng), leaf([b, t, hkv, d], rng), leaf([b, t, hkv, d], rng)]);
});

test('losses: cross-entropy with an ignore index, per-token log-probs, log-sigmoid', () => {
  const targets = new Int32Array([2, -100, 0, 4, 1, -100]);
  gradcheck(([x]) => T.crossEntropy(x!, targets), [leaf([6, 5], rng, -3, 3)]);
  gradcheck(([x]) => T.crossEntropy(x!, targets, { reduction: 'sum' }), [leaf([6, 5], rng, -3, 3)]);
  gradcheck(([x]) => T.gatherLogProbs(x!, targets), [leaf([2, 3, 5], rng, -3, 3)]);
  gradcheck(([x]) => T.logSigmoid(x!), [leaf([5], rng, -20, 20)]);
});

test('cross-entropy equals -mean log softmax at the targets, ignoring masked rows', () => {
  const logits = T.tensor([1, 2, 3, 0, 0, 0, 5, -5, 1], [3, 3], 'f64');
  const loss = T.crossEntropy(logits, new Int32Array([2, -100, 0])).item();
  const lsm = (row: number[], i: number) => row[i]! - Math.log(row.reduce((s, x) => s + Math.exp(x), 0));
  assert.ok(Math.abs(loss - -(lsm([1, 2, 3], 2) + lsm([5, -5, 1], 0)) / 2) < 1e-12);
});

test('gradients accumulate across backward calls until cleared; noGrad records nothing', () => {
  const x = leaf([3], rng);
  const w = T.tensor([1, 2, 3], [3], 'f64');
  T.backward(T.sum(T.mul(x, w)));
  T.backward(T.sum(T.mul(x, w)));
  assert.deepEqual(x.grad!.toArray(), [2, 4, 6]);
  const y = T.noGrad(() => T.mul(x, w));
  assert.equal(y.requiresGrad, false);
  assert.equal(y.node, null);
  assert.throws(() => T.backward(y), /does not require gradients/);
});

test('a tensor used in several places gets the sum of its gradients', () => {
  const x = leaf([4], rng);
  T.backward(T.sum(T.add(T.mul(x, x), x)));
  const xs = x.toArray();
  x.grad!.toArray().forEach((g, i) => assert.ok(Math.abs(g - (2 * xs[i]! + 1)) < 1e-12));
});

test('tidy disposes what it made except its result and kept tensors; use after dispose throws', () => {
  const before = T.liveTensorCount();
  const x = T.tensor([1, 2, 3]);
  let inner: T.Tensor | undefined;
  const out = T.tidy(() => {
    inner = T.exp(x);
    return T.add(inner, x);
  });
  assert.equal(inner!.disposed, true);
  assert.equal(out.disposed, false);
  assert.throws(() => inner!.toArray(), /after dispose/);
  out.dispose();
  x.dispose();
  assert.equal(T.liveTensorCount(), before);
});

test('fused LoRA linear: every input gradient, with bias and with dropout on the branch', () => {
  gradcheck(([x, w, a, b]) => loraLinear(x!, w!, undefined, a!, b!, 1.5), [leaf([2, 3, 5], rng), leaf([4, 5], rng), leaf([2, 5], rng), leaf([4, 2], rng)]);
  const dropout = { p: 0.4, seed: 11 };
  gradcheck(([x, w, a, b, bias]) => loraLinear(x!, w!, bias!, a!, b!, 0.7, dropout), [leaf([3, 5], rng), leaf([4, 5], rng), leaf([2, 5], rng), leaf([4, 2], rng), leaf([4], rng)]);
  // The mask must reach the output: with it the branch differs from the undropped one.
  const args = [leaf([3, 5], rng), leaf([4, 5], rng), leaf([2, 5], rng), leaf([4, 2], rng)] as const;
  const plain = loraLinear(args[0], args[1], undefined, args[2], args[3], 1).toArray();
  const dropped = loraLinear(args[0], args[1], undefined, args[2], args[3], 1, dropout).toArray();
  assert.ok(plain.some((v, i) => Math.abs(v - dropped[i]!) > 1e-6), 'dropout changes the branch');
});
