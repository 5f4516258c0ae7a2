// PEFT adapter → GGUF LoRA (whet export-lora): llama.cpp's metadata and types, names and ggml shapes, A as is, q/k lora_b
// row-permuted like the base, s·B·A equal to the PEFT delta (rsLoRA, rank/alpha patterns folded into B), the refusals, the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as T from '../src/tensor/index.ts';
import { configFromHf, configToHf, type ModelConfig } from '../src/model/config.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { loadConfig } from '../src/model/load.ts';
import { applyLora, loraLayers, type LoraConfig } from '../src/adapters/apply.ts';
import { loadAdapter, saveAdapter } from '../src/adapters/peft.ts';
import { exportGgufLora } from '../src/adapters/gguf-lora.ts';
import { readGgufLora } from '../src/formats/gguf-lora.ts';
import { readGguf } from '../src/formats/gguf.ts';
import { writeGguf } from '../src/formats/gguf-write.ts';
import { writeSafetensors, type SafetensorsTensor } from '../src/formats/safetensors.ts';
import { permuteForGguf } from '../src/formats/llama-names.ts';
import { sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';

const tmp = mkdtempSync(join(tmpdir(), 'whet-gguf-lora-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const BIN = resolve(import.meta.dirname, '../bin/whet.js');

// 4 query heads and 2 KV heads of head dim 4: q and k are permuted with different head counts.
const tiny = (modelType = 'llama'): ModelConfig =>
  configFromHf({ model_type: modelType, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 23, max_position_embeddings: 64 });

/** A folder holding only the base's config.json (all an export reads of the base). */
function baseFolder(name: string, cfg: ModelConfig): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(configToHf(cfg)));
  return dir;
}

/** A saved PEFT adapter from a random model with LoRA; B random so every delta is non-zero. Returns each layer's delta s·B·A. */
function savedAdapter(name: string, cfg: ModelConfig, lora: LoraConfig, base: string | null): { dir: string; deltas: Map<string, Float32Array> } {
  const model = LlamaModel.random(cfg, new T.Rng(1));
  applyLora(model, lora);
  const rng = new T.Rng(2);
  const deltas = new Map<string, Float32Array>();
  for (const { path, layer } of loraLayers(model)) {
    layer.lora_B.weight.f.forEach((_, i, b) => (b[i] = rng.normal() * 0.1));
    deltas.set(path, delta(layer.lora_B.weight.f, layer.lora_A.weight.f, layer.r, layer.scaling));
  }
  const dir = join(tmp, name);
  saveAdapter(dir, model, lora, base);
  model.dispose();
  return { dir, deltas };
}

/** s·B·A for B (out, r) and A (r, in), as (out, in) in float64 then rounded. */
function delta(B: ArrayLike<number>, A: ArrayLike<number>, r: number, s: number): Float32Array {
  const out = B.length / r;
  const inF = A.length / r;
  const d = new Float32Array(out * inF);
  for (let o = 0; o < out; o++)
    for (let i = 0; i < inF; i++) {
      let sum = 0;
      for (let k = 0; k < r; k++) sum += B[o * r + k]! * A[k * inF + i]!;
      d[o * inF + i] = s * sum;
    }
  return d;
}

/** The q/k row order llama.cpp's converter makes, written out independently: GGUF row h·d + 2i + j = HF row h·d + j·d/2 + i. */
function unpermuteRows(w: Float32Array, rows: number, nHead: number): Float32Array {
  const cols = w.length / rows;
  const d = rows / nHead;
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHead; h++)
    for (let i = 0; i < d / 2; i++)
      for (let j = 0; j < 2; j++) out.set(w.subarray((h * d + 2 * i + j) * cols, (h * d + 2 * i + j + 1) * cols), (h * d + j * (d / 2) + i) * cols);
  return out;
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string, tol = 1e-6): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const worst = actual.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i]!) / (1e-3 + Math.abs(expected[i]!))), 0);
  assert.ok(worst < tol, `${what}: max relative difference ${worst}`);
}

/** The GGUF pair's delta as llama.cpp computes it, with llama's q/k rows put back in HF order. */
function ggufDelta(path: string, pair: { A: Float32Array; B: Float32Array; r: number; scale: number; outFeatures: number }, cfg: ModelConfig): Float32Array {
  const d = delta(pair.B, pair.A, pair.r, pair.scale);
  if (path.endsWith('q_proj')) return unpermuteRows(d, pair.outFeatures, cfg.numHeads);
  if (path.endsWith('k_proj')) return unpermuteRows(d, pair.outFeatures, cfg.numKvHeads);
  return d;
}

test('a llama adapter: convert_lora_to_gguf.py metadata and types, blk names with ggml shapes [in, r] / [r, out], A as is, q/k lora_b permuted', () => {
  const cfg = tiny();
  const base = baseFolder('llama-base', cfg);
  const lora: LoraConfig = { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear', seed: 1 };
  const { dir, deltas } = savedAdapter('llama-adapter', cfg, lora, base);
  const out = join(tmp, 'llama.gguf');
  const r = exportGgufLora(dir, out, { model: base });
  assert.deepEqual(r, { arch: 'llama', base, layers: 14, alpha: 8, folded: 0 });

  const file = readGguf(out);
  assert.equal(file.version, 3);
  assert.deepEqual(Object.keys(file.metadata), ['general.architecture', 'general.type', 'adapter.type', 'general.name', 'adapter.lora.alpha', 'general.quantization_version']);
  assert.deepEqual(file.metadata, {
    'general.architecture': 'llama', 'general.type': 'adapter', 'adapter.type': 'lora', 'general.name': 'llama-adapter',
    'adapter.lora.alpha': 8, 'general.quantization_version': 2,
  });
  assert.equal(file.types['adapter.lora.alpha'], 'f32');
  assert.equal(file.types['general.quantization_version'], 'u32');
  const names = file.tensors.map((t) => t.name);
  for (const m of ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'])
    for (const part of ['lora_a', 'lora_b']) assert.ok(names.includes(`blk.1.${m}.weight.${part}`), `blk.1.${m}.weight.${part}`);
  const info = (n: string) => file.tensors.find((t) => t.name === n)!;
  // readGguf's shape is row-major, ggml's ne reversed: lora_a ne [in, r], lora_b ne [r, out].
  assert.deepEqual(info('blk.0.attn_k.weight.lora_a').shape, [4, 16]);
  assert.deepEqual(info('blk.0.attn_k.weight.lora_b').shape, [8, 4]);
  assert.deepEqual(info('blk.0.ffn_down.weight.lora_a').shape, [4, 24]);
  assert.deepEqual(info('blk.0.ffn_down.weight.lora_b').shape, [16, 4]);
  assert.ok(file.tensors.every((t) => t.type === 'F32'));

  const read = readGgufLora(out);
  assert.equal(read.arch, 'llama');
  assert.deepEqual([...read.modules.keys()].sort(), [...deltas.keys()].sort());
  const model = LlamaModel.random(cfg, new T.Rng(1));
  const peft = loadAdapter(dir, model);
  for (const { path, layer } of loraLayers(model)) {
    const pair = read.modules.get(path)!;
    assert.equal(pair.scale, 2, 'alpha / r');
    assert.deepEqual(pair.A, layer.lora_A.weight.f, `${path}: lora_a is PEFT's A`);
    const rows = path.endsWith('q_proj') ? cfg.numHeads : path.endsWith('k_proj') ? cfg.numKvHeads : 0;
    if (rows === 0) assert.deepEqual(pair.B, layer.lora_B.weight.f, `${path}: lora_b is PEFT's B`);
    else {
      assert.notDeepEqual(pair.B, layer.lora_B.weight.f, `${path}: lora_b is permuted`);
      assert.deepEqual(unpermuteRows(pair.B, pair.outFeatures, rows), layer.lora_B.weight.f, `${path}: lora_b un-permuted is PEFT's B`);
      // The delta llama.cpp adds is the PEFT delta permuted exactly as the converter permutes the base weight.
      const d = deltas.get(path)!;
      assertClose(delta(pair.B, pair.A, pair.r, pair.scale), permuteForGguf(d, [pair.outFeatures, 16], rows), `${path}: permuted delta`);
    }
    assertClose(ggufDelta(path, pair, cfg), deltas.get(path)!, `${path}: delta`);
  }
  assert.equal(peft.layers.length, 14);
  model.dispose();
});

test('without --model the base comes from base_model_name_or_path; qwen2 keeps q/k rows in HF order', () => {
  const cfg = tiny('qwen2');
  const base = baseFolder('qwen2-base', cfg);
  const { dir, deltas } = savedAdapter('qwen2-adapter', cfg, { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'k_proj'], seed: 3 }, base);
  const out = join(tmp, 'qwen2.gguf');
  assert.equal(exportGgufLora(dir, out).arch, 'qwen2');
  const read = readGgufLora(out);
  assert.equal(read.arch, 'qwen2');
  assert.equal(read.modules.size, 4);
  for (const [path, pair] of read.modules) assertClose(delta(pair.B, pair.A, pair.r, pair.scale), deltas.get(path)!, `${path}: no permutation`);
});

test('rsLoRA is written with alpha·√r (llama.cpp divides by r and ignores use_rslora)', () => {
  const cfg = tiny();
  const base = baseFolder('rs-base', cfg);
  const { dir, deltas } = savedAdapter('rs-adapter', cfg, { r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'v_proj'], rsLora: true, seed: 4 }, base);
  const out = join(tmp, 'rs.gguf');
  const r = exportGgufLora(dir, out, { model: base });
  assert.equal(r.alpha, 16, '8·√4');
  assert.equal(r.folded, 0);
  const read = readGgufLora(out);
  assert.equal(read.alpha, 16);
  for (const [path, pair] of read.modules) {
    assert.equal(pair.scale, 4, 'alpha/√r = 8/2');
    assertClose(ggufDelta(path, pair, cfg), deltas.get(path)!, `${path}: delta`);
  }
});

/** Writes a PEFT adapter folder by hand: config fields over PEFT's, tensors by module path (A (r, in), B (out, r)). */
function handAdapter(name: string, config: Record<string, unknown>, modules: Record<string, [number, number, number]>, extra: Record<string, SafetensorsTensor> = {}): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const rng = new T.Rng(7);
  const tensors: Record<string, SafetensorsTensor> = { ...extra };
  for (const [path, [r, inF, out]] of Object.entries(modules)) {
    tensors[`base_model.model.${path}.lora_A.weight`] = { dtype: 'F32', shape: [r, inF], data: Float32Array.from({ length: r * inF }, () => rng.normal()) };
    tensors[`base_model.model.${path}.lora_B.weight`] = { dtype: 'F32', shape: [out, r], data: Float32Array.from({ length: out * r }, () => rng.normal()) };
  }
  writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors);
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'k_proj', 'v_proj'], base_model_name_or_path: null, ...config }));
  return dir;
}

for (const rsLora of [false, true]) {
  test(`rank_pattern / alpha_pattern${rsLora ? ' with rsLoRA' : ''}: layers whose scale is not the file's get it folded into lora_b, and s·B·A stays exact`, () => {
    const cfg = tiny();
    const base = baseFolder(`pattern-base-${rsLora}`, cfg);
    const dir = handAdapter(`pattern-${rsLora}`, { use_rslora: rsLora, rank_pattern: { 'model.layers.1.self_attn.q_proj': 2 }, alpha_pattern: { v_proj: 32 } }, {
      'model.layers.0.self_attn.q_proj': [4, 16, 16], // r 4, alpha 8: the file's own scale
      'model.layers.1.self_attn.q_proj': [2, 16, 16], // r 2 by rank_pattern
      'model.layers.0.self_attn.k_proj': [4, 16, 8],
      'model.layers.1.self_attn.v_proj': [4, 16, 8], // alpha 32 by alpha_pattern
    });
    const out = join(tmp, `pattern-${rsLora}.gguf`);
    const r = exportGgufLora(dir, out, { model: base });
    // Plain LoRA: llama.cpp's alpha/r_layer already gives the r-2 layer 8/2, so only the alpha_pattern layer folds; with
    // rsLoRA the r-2 layer's 8/√2 differs from 16/2 as well.
    assert.equal(r.folded, rsLora ? 2 : 1);
    const model = LlamaModel.random(cfg, new T.Rng(1));
    loadAdapter(dir, model);
    const read = readGgufLora(out);
    for (const { path, layer } of loraLayers(model)) {
      const pair = read.modules.get(path)!;
      assert.equal(pair.r, layer.r);
      assertClose(ggufDelta(path, pair, cfg), delta(layer.lora_B.weight.f, layer.lora_A.weight.f, layer.r, layer.scaling), `${path} (PEFT scale ${layer.scaling})`);
    }
    model.dispose();
  });
}

test('refusals name the file and field: a reward model\'s adapter, an aLoRA, a GGUF that is not an adapter, LoRA where GGUF has no tensor (or a tied head), an unsupported architecture, no local base, the wrong base', () => {
  const cfg = tiny();
  const base = baseFolder('refusal-base', cfg);
  const out = join(tmp, 'refused.gguf');
  const seqCls = handAdapter('seq-cls', { task_type: 'SEQ_CLS', modules_to_save: ['score'] }, { 'model.layers.0.self_attn.q_proj': [4, 16, 16] }, {
    'base_model.model.score.weight': { dtype: 'F32', shape: [1, 16], data: new Float32Array(16) },
  });
  assert.throws(() => exportGgufLora(seqCls, out, { model: base }), /seq-cls\/adapter_config\.json: a reward model's adapter \(task_type SEQ_CLS.*score/);

  const odd = handAdapter('odd-module', {}, { 'model.layers.0.mlp.dense': [4, 16, 16] });
  assert.throws(() => exportGgufLora(odd, out, { model: base }), /adapter_model\.safetensors: .*LoRA on 'model\.layers\.0\.mlp\.dense' has no GGUF tensor/);
  const embed = handAdapter('embedding', {}, {}, { 'base_model.model.model.embed_tokens.lora_embedding_A': { dtype: 'F32', shape: [4, 23], data: new Float32Array(92) } });
  assert.throws(() => exportGgufLora(embed, out, { model: base }), /'base_model\.model\.model\.embed_tokens\.lora_embedding_A' is not a LoRA A\/B weight/);
  const head = handAdapter('lm-head', {}, { lm_head: [4, 16, 23] });
  const tied = baseFolder('tied-base', configFromHf({ ...configToHf(cfg), tie_word_embeddings: true }));
  assert.throws(() => exportGgufLora(head, out, { model: tied }), /tied-base: the base ties lm_head to the embedding/);
  const untied = join(tmp, 'untied-head.gguf');
  exportGgufLora(head, untied, { model: base });
  assert.deepEqual(readGguf(untied).tensors.map((t) => t.name), ['output.weight.lora_a', 'output.weight.lora_b'], 'an untied head is output.weight');

  const gemma = join(tmp, 'gemma-base');
  mkdirSync(gemma);
  writeFileSync(join(gemma, 'config.json'), JSON.stringify({ ...configToHf(cfg), model_type: 'gemma' }));
  const plain = handAdapter('plain', {}, { 'model.layers.0.self_attn.q_proj': [4, 16, 16] });
  assert.throws(() => exportGgufLora(plain, out, { model: gemma }), /gemma-base\/config\.json: model_type "gemma" is not supported/);
  assert.throws(() => exportGgufLora(plain, out), /plain\/adapter_config\.json: base_model_name_or_path null is not a local model; pass --model/);
  const wrongBase = baseFolder('wider-base', configFromHf({ ...configToHf(cfg), hidden_size: 32 }));
  assert.throws(() => exportGgufLora(plain, out, { model: wrongBase }), /'model\.layers\.0\.self_attn\.q_proj' has lora_A \[4, 16\].*the wrong base model/);
  assert.throws(() => exportGgufLora(plain, base, { model: base }), /refusal-base is the base model itself/);
  const alora = handAdapter('alora', { alora_invocation_tokens: [5, 6] }, { 'model.layers.0.self_attn.q_proj': [4, 16, 16] });
  assert.throws(() => exportGgufLora(alora, out, { model: base }), /alora\/adapter_config\.json: activated LoRA/);
  assert.ok(!existsSync(out), 'nothing written');
  const notAdapter = join(tmp, 'model.gguf');
  writeGguf(notAdapter, { metadata: { 'general.architecture': 'llama', 'general.type': 'model' }, tensors: [] });
  assert.throws(() => readGgufLora(notAdapter), /model\.gguf: general\.type is "model", not "adapter"/);
});

test('whet export-lora: exit 0 and the file; a missing adapter folder exits 1 with one line and no stack', () => {
  const cfg = tiny();
  const base = baseFolder('cli-base', cfg);
  const { dir } = savedAdapter('cli-adapter', cfg, { r: 2, alpha: 2, dropout: 0, targetModules: ['q_proj'], seed: 5 }, null);
  const out = join(tmp, 'cli.gguf');
  const ok = spawnSync(process.execPath, [BIN, 'export-lora', dir, '--gguf', out, '--model', base], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /exported 2 LoRA layers for llama/);
  assert.ok(existsSync(out));
  assert.equal(readGgufLora(out).modules.size, 2);
  const bad = spawnSync(process.execPath, [BIN, 'export-lora', join(tmp, 'no-such-adapter'), '--gguf', out], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /^whet export-lora: .*no-such-adapter: no such adapter folder\n$/);
});

test('stories260K: an adapter on its config exports with tensors that fit its GGUF\'s weights as llama.cpp checks them', { skip: sharedSkip }, () => {
  const cfg = loadConfig(STORIES_GGUF);
  const { dir, deltas } = savedAdapter('stories-adapter', cfg, { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear', seed: 6 }, STORIES_GGUF);
  const out = join(tmp, 'stories-lora.gguf');
  const r = exportGgufLora(dir, out);
  assert.equal(r.layers, cfg.numLayers * 7);
  const baseFile = readGguf(STORIES_GGUF);
  assert.equal(readGguf(out).metadata['general.architecture'], baseFile.metadata['general.architecture']);
  const read = readGgufLora(out);
  for (const [path, pair] of read.modules) {
    const weight = baseFile.tensors.find((t) => t.name === pair.base);
    assert.ok(weight !== undefined, `${pair.base} is a tensor of the base`);
    // llama.cpp: model ne[0] == lora_a ne[0] (in) and model ne[1] == lora_b ne[1] (out).
    assert.deepEqual([pair.outFeatures, pair.inFeatures], weight!.shape, pair.base);
    assertClose(ggufDelta(path, pair, cfg), deltas.get(path)!, `${path}: delta`);
  }
  assert.ok(readFileSync(out).length > 0);
});
