// Small training runs: both backends agree step by step, loss falls, and memory stays flat.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.ts';
import { AdamW } from '../src/optim/adamw.ts';
import { clipGradNorm } from '../src/optim/clip.ts';
import { nativeBackend, setBackend, getBackend } from '../src/backend/registry.ts';
import { TinyMLP, TinyTransformer } from './helpers/tiny-models.ts';
import type { Module } from '../src/nn/module.ts';
import { configFromHf } from '../src/model/config.ts';
import { LlamaModel } from '../src/model/llama.ts';

const skipNative = nativeBackend() === null ? 'native addon not built' : false;

/** One optimisation step inside a scope; returns the loss. */
function trainStep(model: { step: () => T.Tensor; parameters: () => T.Tensor[] }, opt: AdamW): number {
  return T.tidy(() => {
    const loss = model.step();
    T.backward(loss);
    clipGradNorm(model.parameters(), 1.0);
    opt.update();
    opt.zeroGrad();
    return loss.item();
  });
}

/** Trains a fresh model on the given backend; returns the loss of every step and the final weights. */
function run(backend: 'native' | 'reference', make: () => Module & { step: () => T.Tensor }, steps: number): { losses: number[]; weights: number[][] } {
  const prev = getBackend().name;
  setBackend(backend);
  try {
    const model = make();
    const opt = new AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0.01 });
    const losses: number[] = [];
    for (let s = 0; s < steps; s++) losses.push(trainStep(model, opt));
    const weights = model.parameters().map((p) => p.toArray());
    model.dispose();
    opt.dispose();
    return { losses, weights };
  } finally {
    setBackend(prev);
  }
}

function mlpTask(seed: number) {
  return () => {
    const rng = new T.Rng(seed);
    const model = new TinyMLP(rng);
    const x = T.keep(T.randn([16, 8], rng));
    const y = T.keep(T.randn([16, 4], rng));
    return Object.assign(model, { step: () => model.loss(x, y) });
  };
}

function lmTask(seed: number) {
  return () => {
    const rng = new T.Rng(seed);
    const model = new TinyTransformer(rng);
    // A learnable pattern: each sequence counts upward modulo the vocabulary.
    const tokens = new Int32Array(2 * 12).map((_, i) => ((i % 12) * 3 + Math.floor(i / 12) * 5) % 32);
    return Object.assign(model, { step: () => model.loss(tokens, 2, 12) });
  };
}

function assertClose(a: number[], b: number[], tol: number, what: string): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test('tiny MLP: native and reference backends agree step by step', { skip: skipNative }, () => {
  const ref = run('reference', mlpTask(1), 10);
  const nat = run('native', mlpTask(1), 10);
  assertClose(nat.losses, ref.losses, 1e-4, 'loss');
  nat.weights.forEach((w, i) => assertClose(w, ref.weights[i]!, 1e-3, `param ${i}`));
  assert.ok(ref.losses[9]! < ref.losses[0]!, 'loss should fall');
});

test('2-layer transformer: native and reference backends agree step by step, and it learns', { skip: skipNative }, () => {
  const ref = run('reference', lmTask(2), 8);
  const nat = run('native', lmTask(2), 8);
  assertClose(nat.losses, ref.losses, 1e-4, 'loss');
  nat.weights.forEach((w, i) => assertClose(w, ref.weights[i]!, 1e-3, `param ${i}`));
  assert.ok(ref.losses[7]! < ref.losses[0]! - 0.1, `loss should fall: ${ref.losses[0]} → ${ref.losses[7]}`);
});

test('memory stays flat over 2,000 training steps', () => {
  const model = mlpTask(3)();
  const opt = new AdamW(model.parameters(), { lr: 1e-3 });
  const step = () => void trainStep(model, opt);
  for (let i = 0; i < 100; i++) step();
  const tensorsBefore = T.liveTensorCount();
  const bytesBefore = T.poolStats().liveBytes;
  const rssBefore = process.memoryUsage().rss;
  for (let i = 0; i < 2000; i++) step();
  assert.equal(T.liveTensorCount(), tensorsBefore, 'tensors leaked');
  assert.equal(T.poolStats().liveBytes, bytesBefore, 'pooled buffers leaked');
  const growthMb = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  assert.ok(growthMb < 32, `resident memory grew by ${growthMb.toFixed(1)} MB`);
  model.dispose();
  opt.dispose();
});

test('memory stays flat over 500 steps of a Llama model with gradient checkpointing', () => {
  const cfg = configFromHf({ model_type: 'llama', hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 40 });
  const llama = LlamaModel.random(cfg, new T.Rng(4));
  const ids = Int32Array.from({ length: 2 * 10 }, (_, i) => (i * 7) % 40);
  const targets = Int32Array.from({ length: 2 * 10 }, (_, i) => (i * 3 + 1) % 40);
  const model = Object.assign(llama, {
    step: () => T.crossEntropy(T.reshape(llama.logits(llama.forward(ids, 2, { checkpoint: true })), [20, 40]), targets),
  });
  const opt = new AdamW(model.parameters(), { lr: 1e-3 });
  for (let i = 0; i < 20; i++) trainStep(model, opt);
  const tensorsBefore = T.liveTensorCount();
  const bytesBefore = T.poolStats().liveBytes;
  for (let i = 0; i < 500; i++) trainStep(model, opt);
  assert.equal(T.liveTensorCount(), tensorsBefore, 'tensors leaked');
  assert.equal(T.poolStats().liveBytes, bytesBefore, 'pooled buffers leaked');
  model.dispose();
  opt.dispose();
});
