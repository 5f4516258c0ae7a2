// The shared training loop: schedules, accumulation, resume equality, early stopping, NaN guard, interrupt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as T from '../src/tensor/index.ts';
import { lrAt } from '../src/optim/schedule.ts';
import { train, type BatchSource, type TrainOptions } from '../src/train/trainer.ts';
import { listCheckpoints } from '../src/train/checkpoint-io.ts';
import { TinyMLP } from './helpers/tiny-models.ts';

test('schedules: warmup ramps linearly, cosine and linear decay to the floor', () => {
  const s = { kind: 'cosine' as const, peakLr: 1, warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 };
  assert.equal(lrAt(s, 0), 0.1);
  assert.equal(lrAt(s, 9), 1);
  assert.ok(Math.abs(lrAt(s, 60) - 0.55) < 1e-12);
  assert.ok(Math.abs(lrAt(s, 110) - 0.1) < 1e-12);
  assert.ok(Math.abs(lrAt({ ...s, kind: 'linear' }, 35) - (0.1 + 0.9 * 0.75)) < 1e-12);
  assert.equal(lrAt({ ...s, kind: 'constant' }, 100), 1);
});

/** A seeded stream of regression batches whose position can be saved and restored. */
type Batch = { x: number[]; y: number[] };

function batchSource(seed: number): BatchSource<Batch> {
  let index = 0;
  return {
    next() {
      const rng = new T.Rng(seed * 1000 + index++);
      return { x: Array.from({ length: 8 * 8 }, () => rng.normal()), y: Array.from({ length: 8 * 4 }, () => rng.normal()) };
    },
    state: () => index,
    restore: (s) => (index = s as number),
  };
}

function setup(dir: string, extra: Partial<TrainOptions<Batch>> = {}) {
  const model = new TinyMLP(new T.Rng(5));
  const params = new Map(model.namedTensors().filter(([, t]) => t.requiresGrad));
  const opts: TrainOptions<Batch> = {
    params,
    loss: (b: Batch) => ({ loss: model.loss(T.tensor(b.x, [8, 8]), T.tensor(b.y, [8, 4])), tokens: 8 }),
    batches: batchSource(1),
    steps: 20,
    lr: 1e-2,
    warmupSteps: 3,
    maxGradNorm: 1,
    gradAccum: 2,
    weightDecay: 0.1,
    outDir: dir,
    ...extra,
  };
  return { model, opts };
}

test('a run resumed from a checkpoint ends with the same weights as one never interrupted', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-train-'));
  try {
    const a = setup(path.join(dir, 'a'));
    await train(a.opts);
    const b = setup(path.join(dir, 'b'), { saveEvery: 5 });
    const signal = { interrupted: false };
    await train({ ...b.opts, signal, onStep: (m) => (signal.interrupted = m.step === 12) });
    const c = setup(path.join(dir, 'b'), { saveEvery: 5, resume: true });
    const r = await train(c.opts);
    assert.equal(r.steps, 20);
    const wa = a.model.parameters().map((p) => p.toArray());
    c.model.parameters().forEach((p, i) => p.toArray().forEach((v, j) => assert.ok(Math.abs(v - wa[i]![j]!) <= 1e-6, `param ${i}[${j}]`)));
    const steps = readFileSync(path.join(dir, 'b', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step);
    assert.deepEqual(steps, Array.from({ length: 20 }, (_, i) => i + 1));
    assert.ok(listCheckpoints(path.join(dir, 'b')).length <= 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('metrics are written per step, the loss falls, and holdout evaluation drives early stopping', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-train-'));
  try {
    const { opts } = setup(dir);
    let evals = 0;
    const r = await train({ ...opts, steps: 50, evalEvery: 5, evaluate: () => (evals++ < 2 ? 1 - evals * 0.1 : 5), earlyStoppingPatience: 2 });
    assert.equal(r.stoppedBy, 'early-stop');
    assert.equal(r.steps, 20);
    const lines = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    assert.equal(lines.length, 20);
    for (const key of ['step', 'loss', 'lr', 'grad_norm', 'tokens_per_s']) assert.equal(typeof lines[0]![key], 'number');
    assert.equal(lines[4]!.holdout_loss, 0.9);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a loss's own metrics (DPO's rewards/margins, …) are averaged over micro-batches into metrics.jsonl", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-train-'));
  try {
    const { opts } = setup(dir);
    let calls = 0;
    const seen: (Record<string, number> | undefined)[] = [];
    await train({
      ...opts,
      steps: 3,
      loss: (b) => ({ ...opts.loss(b), metrics: { 'rewards/margins': ++calls, 'rewards/accuracies': calls % 2 } }),
      onStep: (m) => seen.push(m.metrics),
    });
    const lines = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    // Two micro-batches a step: calls 1+2, 3+4, 5+6.
    assert.deepEqual(lines.map((l) => l['rewards/margins']), [1.5, 3.5, 5.5]);
    assert.deepEqual(lines.map((l) => l['rewards/accuracies']), [0.5, 0.5, 0.5]);
    assert.ok(lines.every((l) => !('metrics' in l)), 'written as top-level keys, as TRL logs them');
    assert.deepEqual(seen[0], { 'rewards/margins': 1.5, 'rewards/accuracies': 0.5 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a NaN loss stops the run with a clear error before touching the weights', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-train-'));
  try {
    const { model, opts } = setup(dir);
    let n = 0;
    const before = model.parameters().map((p) => p.toArray());
    await assert.rejects(() => train({ ...opts, gradAccum: 1, loss: (b) => (n++ === 0 ? { loss: T.scale(opts.loss(b).loss, NaN), tokens: 8 } : opts.loss(b)) }), /loss became NaN at step 1/);
    model.parameters().forEach((p, i) => assert.deepEqual(p.toArray(), before[i]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
