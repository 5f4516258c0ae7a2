// Gradient checkpointing gives the same loss and gradients as keeping every activation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.ts';
import { configFromHf } from '../src/model/config.ts';
import { LlamaModel } from '../src/model/llama.ts';

test('per-layer recomputation reproduces loss and every parameter gradient', () => {
  const cfg = configFromHf({ model_type: 'qwen3', hidden_size: 32, intermediate_size: 48, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, vocab_size: 40 });
  const model = LlamaModel.random(cfg, new T.Rng(9), { std: 0.2 });
  const ids = Int32Array.from({ length: 2 * 10 }, (_, i) => (i * 7) % 40);
  const targets = Int32Array.from({ length: 2 * 10 }, (_, i) => (i * 3 + 1) % 40);
  const run = (checkpoint: boolean) =>
    T.tidy(() => {
      const loss = T.crossEntropy(T.reshape(model.logits(model.forward(ids, 2, { checkpoint })), [20, 40]), targets);
      T.backward(loss);
      const grads = model.parameters().map((p) => p.grad!.toArray());
      for (const p of model.parameters()) {
        p.grad!.dispose();
        p.grad = null;
      }
      return { loss: loss.item(), grads };
    });
  const plain = run(false);
  const ckpt = run(true);
  assert.ok(Math.abs(plain.loss - ckpt.loss) < 1e-6);
  plain.grads.forEach((g, i) => g.forEach((v, j) => assert.ok(Math.abs(v - ckpt.grads[i]![j]!) < 1e-5, `param ${i}[${j}]`)));
  model.dispose();
});

test('recomputation replays the same random numbers (dropout) through rewound generators', () => {
  const rng = new T.Rng(4);
  const w = T.keep(T.tensor([0.5, -1, 2, 0.25], [4])).requireGrad();
  const x = T.keep(T.tensor([1, 2, 3, 4], [4])).requireGrad();
  // A block whose output depends on draws from rng: a random mask.
  const block = ([h]: T.Tensor[]) => T.mul(T.mul(h!, w), T.tensor(Array.from({ length: 4 }, () => (rng.uniform() < 0.5 ? 0 : 2)), [4]));
  const out = T.checkpoint(block, [x], [rng]);
  const forwardValues = out.toArray();
  T.backward(T.sum(out));
  // d/dx = w * mask, where mask is recoverable from the forward output: out = x * w * mask.
  const xs = [1, 2, 3, 4];
  const ws = [0.5, -1, 2, 0.25];
  x.grad!.toArray().forEach((g, i) => assert.ok(Math.abs(g - forwardValues[i]! / xs[i]!) < 1e-6, `x grad ${i}`));
  w.grad!.toArray().forEach((g, i) => assert.ok(Math.abs(g - forwardValues[i]! / ws[i]!) < 1e-6, `w grad ${i}`));
});
