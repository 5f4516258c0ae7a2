// PEFT adapter folders: save → load round trip, adapters built by hand exactly as PEFT writes them, and bad adapters refused clearly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/tensor/index.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { configFromHf } from '../src/model/config.ts';
import { applyLora, loraLayers, type LoraConfig } from '../src/adapters/apply.ts';
import { loadAdapter, saveAdapter } from '../src/adapters/peft.ts';

const tinyConfig = () =>
  configFromHf({ model_type: 'llama', hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 50 });
const D = 32; // hidden size
const KV = 16; // key/value heads · head dim: v_proj is (16, 32)

const ids = Int32Array.from({ length: 2 * 6 }, (_, i) => (i * 11 + 1) % 50);
function logitsOf(model: LlamaModel): number[] {
  return T.noGrad(() => T.tidy(() => model.logits(model.forward(ids, 2)).toArray()));
}

function assertClose(a: number[], b: number[], tol: number, what: string): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

const tmp = mkdtempSync(join(tmpdir(), 'whet-lora-peft-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = (): string => {
  const d = join(tmp, `a${dirCount++}`);
  mkdirSync(d);
  return d;
};

interface RawTensor {
  key: string;
  dtype: 'F32' | 'BF16';
  shape: number[];
  values: number[];
}

/** Writes a safetensors file byte by byte, as the safetensors library does (independent of the writer under test). */
function writeSafetensorsByHand(path: string, tensors: RawTensor[]): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const t of tensors) {
    const bytes =
      t.dtype === 'F32' ? Buffer.from(Float32Array.from(t.values).buffer)
      : Buffer.from(Uint16Array.from(t.values, (v) => new Uint32Array(Float32Array.of(v).buffer)[0]! >>> 16).buffer); // truncation: any bf16 will do
    header[t.key] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, ...chunks]));
}

/** The value a BF16 tensor written above decodes to. */
const bf16 = (v: number): number => new Float32Array(Uint32Array.of((new Uint32Array(Float32Array.of(v).buffer)[0]! >>> 16) << 16).buffer)[0]!;

/** adapter_config.json as PEFT 0.15 writes it for LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj","v_proj"]). */
function peftConfig(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    alpha_pattern: {}, auto_mapping: null, base_model_name_or_path: 'tiny-llama', bias: 'none', corda_config: null, eva_config: null,
    exclude_modules: null, fan_in_fan_out: false, inference_mode: true, init_lora_weights: true, layer_replication: null,
    layers_pattern: null, layers_to_transform: null, loftq_config: {}, lora_alpha: 16, lora_bias: false, lora_dropout: 0.05,
    megatron_config: null, megatron_core: 'megatron.core', modules_to_save: null, peft_type: 'LORA', r: 8, rank_pattern: {},
    revision: null, target_modules: ['v_proj', 'q_proj'], task_type: 'CAUSAL_LM', trainable_token_indices: null, use_dora: false,
    use_rslora: false, ...over,
  };
}

function writeAdapter(dir: string, config: Record<string, unknown>, tensors: RawTensor[]): void {
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(config, null, 2));
  writeSafetensorsByHand(join(dir, 'adapter_model.safetensors'), tensors);
}

interface HandLora {
  layer: number;
  proj: 'q_proj' | 'v_proj';
  out: number;
  r: number;
  A: number[];
  B: number[];
}

function randomLoras(seed: number, ranks: (proj: string, layer: number) => number): HandLora[] {
  const rng = new T.Rng(seed);
  const out: HandLora[] = [];
  for (const layer of [0, 1])
    for (const proj of ['q_proj', 'v_proj'] as const) {
      const o = proj === 'q_proj' ? D : KV;
      const r = ranks(proj, layer);
      out.push({ layer, proj, out: o, r, A: Array.from({ length: r * D }, () => rng.normal() * 0.2), B: Array.from({ length: o * r }, () => rng.normal() * 0.2) });
    }
  return out;
}

/** The base model with W += s·B·A added by plain loops. */
function mergedByHand(seed: number, loras: HandLora[], scale: (l: HandLora) => number): LlamaModel {
  const model = LlamaModel.random(tinyConfig(), new T.Rng(seed));
  for (const l of loras) {
    const w = model.model.layers[l.layer]!.self_attn[l.proj].weight.f;
    const s = scale(l);
    for (let o = 0; o < l.out; o++)
      for (let i = 0; i < D; i++) {
        let d = 0;
        for (let j = 0; j < l.r; j++) d += l.B[o * l.r + j]! * l.A[j * D + i]!;
        w[o * D + i] += s * d;
      }
  }
  return model;
}

const cfg: LoraConfig = { r: 4, alpha: 12, dropout: 0.1, targetModules: ['v_proj', 'o_proj', 'q_proj', 'down_proj'], rsLora: true, seed: 1 };

test('save → load into a fresh base gives identical logits; files are PEFT-shaped', () => {
  const model = LlamaModel.random(tinyConfig(), new T.Rng(21));
  applyLora(model, cfg);
  const rng = new T.Rng(22);
  for (const { layer } of loraLayers(model)) for (const w of [layer.lora_A.weight.f, layer.lora_B.weight.f]) for (let i = 0; i < w.length; i++) w[i] = rng.normal() * 0.1;
  const expected = logitsOf(model);
  const dir = join(tmp, 'saved', 'nested');
  saveAdapter(dir, model, cfg, 'some/base-model');

  const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config.peft_type, 'LORA');
  assert.equal(config.task_type, 'CAUSAL_LM');
  assert.equal(config.r, 4);
  assert.equal(config.lora_alpha, 12);
  assert.equal(config.lora_dropout, 0.1);
  assert.equal(config.use_rslora, true);
  assert.equal(config.bias, 'none');
  assert.equal(config.use_dora, false);
  assert.equal(config.fan_in_fan_out, false);
  assert.equal(config.base_model_name_or_path, 'some/base-model');
  assert.deepEqual(config.target_modules, ['down_proj', 'o_proj', 'q_proj', 'v_proj']);
  assert.deepEqual(config.rank_pattern, {});
  assert.deepEqual(Object.keys(config), Object.keys(config).sort(), 'keys sorted as PEFT writes them');

  const bytes = readFileSync(join(dir, 'adapter_model.safetensors'));
  const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8')) as Record<string, { dtype: string; shape: number[] }>;
  assert.deepEqual(header.__metadata__, { format: 'pt' });
  const keys = Object.keys(header).filter((k) => k !== '__metadata__');
  assert.equal(keys.length, 2 * 4 * 2);
  const qA = header['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight']!;
  assert.equal(qA.dtype, 'F32');
  assert.deepEqual(qA.shape, [4, 32]);
  assert.deepEqual(header['base_model.model.model.layers.1.mlp.down_proj.lora_B.weight']!.shape, [32, 4]);
  assert.deepEqual(header['base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight']!.shape, [16, 4]);
  assert.ok(keys.every((k) => /^base_model\.model\.model\.layers\.\d\.(self_attn|mlp)\.\w+\.lora_[AB]\.weight$/.test(k)), 'no .default, HF module paths');

  const fresh = LlamaModel.random(tinyConfig(), new T.Rng(21));
  const loaded = loadAdapter(dir, fresh);
  assert.equal(loaded.layers.length, 8);
  assert.equal(loaded.baseModelNameOrPath, 'some/base-model');
  assert.deepEqual({ ...loaded.config, seed: 1 }, { ...cfg, targetModules: ['down_proj', 'o_proj', 'q_proj', 'v_proj'] });
  assert.deepEqual(logitsOf(fresh), expected, 'identical logits');
  assert.equal(fresh.parameters().length, 16, 'only the LoRA weights are trainable after loading');
});

test('a PEFT adapter made elsewhere: output = base + (16/8)·B·A applied by hand', () => {
  const loras = randomLoras(31, () => 8);
  const dir = freshDir();
  writeAdapter(dir, peftConfig(), loras.flatMap((l) => {
    const p = `base_model.model.model.layers.${l.layer}.self_attn.${l.proj}`;
    return [
      { key: `${p}.lora_A.weight`, dtype: 'F32' as const, shape: [l.r, D], values: l.A },
      { key: `${p}.lora_B.weight`, dtype: 'F32' as const, shape: [l.out, l.r], values: l.B },
    ];
  }));
  const model = LlamaModel.random(tinyConfig(), new T.Rng(30));
  const base = logitsOf(model);
  const loaded = loadAdapter(dir, model);
  assert.equal(loaded.layers.length, 4);
  assert.ok(loaded.layers.every((l) => l.scaling === 2 && l.dropout === 0.05));
  const got = logitsOf(model);
  const expected = logitsOf(mergedByHand(30, loras, () => 16 / 8));
  assertClose(got, expected, 1e-4, 'logits');
  assert.ok(got.some((v, i) => Math.abs(v - base[i]!) > 1e-2), 'the adapter changes the output');
});

test('older PEFT keys (.default.), BF16 weights, rsLoRA, rank_pattern and alpha_pattern', () => {
  // v_proj has rank 2 (rank_pattern), layer 1's q_proj alpha 4 (alpha_pattern); rsLoRA: s = alpha/√r.
  const loras = randomLoras(41, (proj) => (proj === 'v_proj' ? 2 : 8));
  const alphaOf = (l: HandLora): number => (l.layer === 1 && l.proj === 'q_proj' ? 4 : 16);
  const dir = freshDir();
  writeAdapter(dir, peftConfig({ use_rslora: true, rank_pattern: { v_proj: 2 }, alpha_pattern: { 'model.layers.1.self_attn.q_proj': 4 } }), loras.flatMap((l) => {
    const p = `base_model.model.model.layers.${l.layer}.self_attn.${l.proj}`;
    return [
      { key: `${p}.lora_A.default.weight`, dtype: 'BF16' as const, shape: [l.r, D], values: l.A },
      { key: `${p}.lora_B.default.weight`, dtype: 'BF16' as const, shape: [l.out, l.r], values: l.B },
    ];
  }));
  const model = LlamaModel.random(tinyConfig(), new T.Rng(40));
  const loaded = loadAdapter(dir, model);
  assert.deepEqual(loaded.layers.map((l) => l.r), [8, 2, 8, 2]);
  const rounded = loras.map((l) => ({ ...l, A: l.A.map(bf16), B: l.B.map(bf16) }));
  assertClose(logitsOf(model), logitsOf(mergedByHand(40, rounded, (l) => alphaOf(l) / Math.sqrt(l.r))), 1e-4, 'logits');

  // Saving keeps the per-layer ranks and alphas in PEFT's patterns, and loads back the same.
  const again = freshDir();
  saveAdapter(again, model, loaded.config, null);
  const config = JSON.parse(readFileSync(join(again, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(config.rank_pattern, { 'model.layers.0.self_attn.v_proj': 2, 'model.layers.1.self_attn.v_proj': 2 });
  assert.deepEqual(config.alpha_pattern, { 'model.layers.1.self_attn.q_proj': 4 });
  const twin = LlamaModel.random(tinyConfig(), new T.Rng(40));
  loadAdapter(again, twin);
  assert.deepEqual(logitsOf(twin), logitsOf(model));
});

test('bad adapters give a clear error and leave the model untouched', () => {
  const good = randomLoras(51, () => 8).slice(0, 1); // layer 0 q_proj
  const key = (part: string, mod = 'model.layers.0.self_attn.q_proj') => `base_model.model.${mod}.${part}.weight`;
  const A = { key: key('lora_A'), dtype: 'F32' as const, shape: [8, D], values: good[0]!.A };
  const B = { key: key('lora_B'), dtype: 'F32' as const, shape: [D, 8], values: good[0]!.B };
  const cases: [string, (dir: string) => void, RegExp][] = [
    ['shape mismatch', (d) => writeAdapter(d, peftConfig(), [A, { ...B, shape: [16, 8], values: B.values.slice(0, 128) }]), /lora_B\.weight' has shape \[16, 8\], expected \[32, 8\]/],
    ['A of the wrong width', (d) => writeAdapter(d, peftConfig(), [{ ...A, shape: [8, 16], values: A.values.slice(0, 128) }, B]), /q_proj\.lora_A\.weight' has shape \[8, 16\]/],
    ['unknown module', (d) => writeAdapter(d, peftConfig(), [{ ...A, key: key('lora_A', 'model.layers.7.self_attn.q_proj') }, { ...B, key: key('lora_B', 'model.layers.7.self_attn.q_proj') }]), /'base_model\.model\.model\.layers\.7\.self_attn\.q_proj\.lora_A\.weight' names module .* not a Linear layer/],
    ['a key that is not LoRA', (d) => writeAdapter(d, peftConfig(), [A, B, { ...A, key: 'base_model.model.model.embed_tokens.lora_embedding_A' }]), /lora_embedding_A' is not a LoRA weight/],
    ['A without B', (d) => writeAdapter(d, peftConfig(), [A]), /has lora_A but no lora_B/],
    ['rank against the config', (d) => writeAdapter(d, peftConfig({ r: 4 }), [A, B]), /rank 8, but adapter_config\.json gives .* rank 4/],
    ['missing config', (d) => writeSafetensorsByHand(join(d, 'adapter_model.safetensors'), [A, B]), /no adapter_config\.json/],
    ['missing weights', (d) => writeFileSync(join(d, 'adapter_config.json'), JSON.stringify(peftConfig())), /no adapter_model\.safetensors/],
    ['pickle weights only', (d) => { writeFileSync(join(d, 'adapter_config.json'), JSON.stringify(peftConfig())); writeFileSync(join(d, 'adapter_model.bin'), 'PK'); }, /adapter_model\.bin.*safetensors only/],
    ['bias', (d) => writeAdapter(d, peftConfig({ bias: 'lora_only' }), [A, B]), /bias "lora_only" is not supported/],
    ['DoRA', (d) => writeAdapter(d, peftConfig({ use_dora: true }), [A, B]), /DoRA/],
    ['modules_to_save', (d) => writeAdapter(d, peftConfig({ modules_to_save: ['lm_head'] }), [A, B]), /modules_to_save/],
    ['another PEFT method', (d) => writeAdapter(d, peftConfig({ peft_type: 'IA3' }), [A, B]), /peft_type "IA3" is not supported/],
    ['broken JSON', (d) => { writeAdapter(d, peftConfig(), [A, B]); writeFileSync(join(d, 'adapter_config.json'), '{"r": 8,'); }, /adapter_config\.json: invalid JSON/],
  ];
  for (const [what, make, pattern] of cases) {
    const dir = freshDir();
    make(dir);
    const model = LlamaModel.random(tinyConfig(), new T.Rng(50));
    const trainable = model.parameters().length;
    assert.throws(() => loadAdapter(dir, model), (e: Error) => e.name === 'WhetError' && pattern.test(e.message), what);
    assert.equal(loraLayers(model).length, 0, `${what}: no layer wrapped`);
    assert.equal(model.parameters().length, trainable, `${what}: nothing frozen`);
  }
  assert.throws(() => loadAdapter(join(tmp, 'nope'), LlamaModel.random(tinyConfig(), new T.Rng(50))), /no such adapter folder/);
  // The good pair loads (the cases above fail for their own reason).
  const dir = freshDir();
  writeAdapter(dir, peftConfig(), [A, B]);
  assert.equal(loadAdapter(dir, LlamaModel.random(tinyConfig(), new T.Rng(50))).layers.length, 1);
});
