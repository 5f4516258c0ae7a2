// Frozen base weights gathered into one buffer in forward order, and sibling projections (q/k/v, gate/up) run as
// one product over them: the same numbers as each projection on its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.ts';
import { configFromHf } from '../src/model/config.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { KVCache } from '../src/model/kv-cache.ts';
import type { FrozenDType } from '../src/model/frozen-weights.ts';

const CFG = {
  model_type: 'llama', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4,
  num_key_value_heads: 2, vocab_size: 96, rms_norm_eps: 1e-5, rope_theta: 10000, max_position_embeddings: 256, tie_word_embeddings: true,
};

/** Greedy logits of a few decode steps, for a batch of `rows` streams. */
function decodeLogits(model: LlamaModel, rows: number): number[] {
  const cfg = model.config;
  const caches = Array.from({ length: rows }, () => new KVCache(cfg, 16));
  const out: number[] = [];
  T.noGrad(() => {
    for (let step = 0; step < 3; step++)
      T.tidy(() => out.push(...model.logits(model.forward(Int32Array.from({ length: rows }, (_, r) => (step * 7 + r * 3) % cfg.vocabSize), rows, { caches })).toArray()));
  });
  for (const c of caches) c.dispose();
  return out;
}

test('frozen matrices lie back to back in one buffer, in the order the forward reads them', () => {
  const model = LlamaModel.random(configFromHf(CFG), new T.Rng(1), { dtype: 'bf16' });
  const matrices = model.namedTensors().filter(([, t]) => t.rank === 2).map(([name, t]) => ({ name, d: t.data }));
  assert.ok(matrices.every((m) => m.d.buffer === matrices[0]!.d.buffer), 'one buffer');
  for (let i = 1; i < matrices.length; i++) assert.ok(matrices[i]!.d.byteOffset >= matrices[i - 1]!.d.byteOffset + matrices[i - 1]!.d.byteLength, `${matrices[i]!.name} after ${matrices[i - 1]!.name}`);
  const q = model.model.layers[0]!.self_attn.q_proj.weight.data, k = model.model.layers[0]!.self_attn.k_proj.weight.data;
  assert.equal(k.byteOffset, q.byteOffset + q.byteLength, 'k_proj follows q_proj directly');
  model.dispose();
});

test('q/k/v and gate/up as one product give the same logits as each projection alone (bf16 and quantised, 1 and 5 streams)', () => {
  for (const dtype of ['bf16', 'q8_0', 'q4_0'] as FrozenDType[]) {
    for (const rows of [1, 5]) {
      const model = LlamaModel.random(configFromHf(CFG), new T.Rng(2), { dtype });
      const fused = decodeLogits(model, rows);
      // Moving one weight out of line makes every layer's siblings run one by one.
      for (const layer of model.model.layers) {
        const w = layer.self_attn.k_proj.weight, g = layer.mlp.up_proj.weight;
        for (const t of [w, g]) t.relocate(new (t.data.constructor as new (n: number) => Uint8Array)(t.data.length));
      }
      const apart = decodeLogits(model, rows);
      assert.deepEqual(fused, apart, `${dtype}, ${rows} streams`);
      model.dispose();
    }
  }
});
