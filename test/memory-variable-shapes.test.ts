// The allocator under variable shapes: size classes, best-fit reuse, idle memory bounded by the working set, and
// 200 training steps on examples of random lengths whose held memory stops growing after warm-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/tensor/index.ts';
import { acquire, release, resetPoolPeaks, sizeClass } from '../src/tensor/pool.ts';
import { configFromHf } from '../src/model/config.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { applyLora, setLoraTraining } from '../src/adapters/apply.ts';
import { IGNORE_INDEX } from '../src/tensor/ops/loss.ts';
import { train } from '../src/train/trainer.ts';
import { sftBatchSource, sftLoss } from '../src/recipes/sft-steps.ts';

test('size classes: never smaller than asked, at most 1/16 larger, monotone', () => {
  let prev = 0;
  for (let n = 1; n < 300_000; n += 1 + Math.floor(n / 50)) {
    const { size, index } = sizeClass(n);
    assert.ok(size >= n, `class of ${n} is ${size}`);
    if (n > 1024) assert.ok(size <= n * (1 + 1 / 16), `class of ${n} is ${size}`);
    assert.ok(index >= prev, `index falls at ${n}`);
    prev = index;
    assert.equal(sizeClass(size).size, size, `a class size is its own class (${size})`);
  }
});

test('a request takes an idle buffer of a larger class (best fit) instead of a fresh one', () => {
  T.trimPool(0);
  const big = acquire('f32', 100_000, false);
  const bigger = acquire('f32', 300_000, false);
  release(big);
  release(bigger);
  const before = T.poolStats().allocatedBytes;
  const a = acquire('f32', 60_000, false); // smaller than both: takes the 100K buffer, the smallest that fits
  assert.equal(a, big);
  const b = acquire('f32', 20_000, true); // 15x smaller than the one left: beyond the reuse span, a fresh one
  assert.notEqual(b, bigger);
  assert.ok(b.subarray(0, 20_000).every((x) => x === 0), 'zeroed');
  assert.equal(T.poolStats().allocatedBytes - before, sizeClass(20_000).size * 4);
  release(a);
  release(b);
});

test('idle memory stays within the working set: fresh buffers evict the longest-idle ones', () => {
  T.trimPool(0);
  const n = 250_000; // 1 MB each
  const xs = Array.from({ length: 8 }, () => acquire('f32', n, false));
  for (const x of xs) release(x); // working set 8 MB, all idle now
  const ys = Array.from({ length: 4 }, () => acquire('f32', 4 * n, false)); // 16 MB of a class the idle ones cannot serve
  const s = T.poolStats();
  assert.ok(s.liveBytes + s.pooledBytes <= s.liveBytes * (1 + 1 / 16) + 1e5, `held ${s.liveBytes + s.pooledBytes} with ${s.liveBytes} live`);
  assert.ok(s.evictedBytes >= 8 * n * 4 - 1e5, `evicted ${s.evictedBytes}`);
  for (const y of ys) release(y);
});

test('200 training steps on random lengths: held memory and fresh allocations stop growing after warm-up', async () => {
  const cfg = configFromHf({ model_type: 'llama', hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 97, max_position_embeddings: 256 });
  const model = LlamaModel.random(cfg, new T.Rng(3), { dtype: 'bf16' });
  applyLora(model, { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear', seed: 1 });
  setLoraTraining(model, true);
  const rng = new T.Rng(5);
  const examples = Array.from({ length: 120 }, () => {
    const len = 8 + rng.int(120); // 8..127 tokens
    const ids = Int32Array.from({ length: len }, () => 1 + rng.int(96));
    return { ids, labels: Int32Array.from(ids, (id, t) => (t < len / 3 ? IGNORE_INDEX : id)), truncated: 0 };
  });
  const { batches } = sftBatchSource(examples, { packing: false, max_length: 128, batch_size: 6, seed: 0, group_by_length: true, max_batch_tokens: 0 }, 0);
  const lengths = new Set<number>();
  const loss = sftLoss(model, { checkpoint: false, rngs: [], activations: 'bf16' }); // SwiGLU inputs kept in bf16: their copies must not leak either
  T.trimPool(4 * 2 ** 20); // a slack small next to this model's working set, so a churning pool would show
  const held: number[] = [];
  const fresh: number[] = [];
  const tensors: number[] = [];
  const out = mkdtempSync(join(tmpdir(), 'whet-mem-'));
  try {
    await train({
      params: new Map(model.namedTensors().filter(([, t]) => t.requiresGrad)),
      loss: (b) => (lengths.add(b.time), loss(b)),
      batches,
      steps: 200,
      lr: 1e-3,
      outDir: out,
      saveEvery: 0,
      onStep: () => {
        const s = T.poolStats();
        held.push(s.peakHeldBytes);
        fresh.push(s.allocatedBytes);
        tensors.push(T.liveTensorCount());
        resetPoolPeaks();
      },
    });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  assert.ok(lengths.size >= 5, `the batches should vary in length, got ${[...lengths].join(', ')}`);
  // One epoch is 20 batches, the longest first; below its bound the pool makes exact-size buffers for the shapes it
  // meets, so warm-up ends when the rarest lengths have come round (three epochs), and 140 steps must follow flat.
  const warm = 60;
  const heldAtWarm = Math.max(...held.slice(0, warm));
  assert.ok(Math.max(...held.slice(warm)) <= heldAtWarm, `held memory grew after warm-up: ${heldAtWarm} → ${Math.max(...held.slice(warm))}`);
  assert.equal(fresh[199], fresh[warm - 1], `fresh buffers were made after warm-up (held at most ${heldAtWarm} bytes)`);
  assert.equal(tensors[199], tensors[warm - 1], 'tensors leaked');
  model.dispose();
});
