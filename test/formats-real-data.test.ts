// Checks the format layer on real third-party files in ../shared/data: stories260K and llama-2-tiny-random GGUFs, and GGUF → HF safetensors → GGUF round trips.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readGguf, readGgufTensor, readGgufTensorBytes, ggufTensor, type GgufFile, type GgufTensorInfo } from '../src/formats/gguf.ts';
import { ggufTypedMetadata, writeGguf, type GgufWriteTensor } from '../src/formats/gguf-write.ts';
import { readSafetensorsFolder, writeSafetensorsSharded } from '../src/formats/safetensors-sharded.ts';
import type { SafetensorsTensor } from '../src/formats/safetensors.ts';
import { attentionHeads, fromGgufTensor, ggufMetadataFromHfConfig, hfConfigFromGguf, toGgufTensor } from '../src/formats/llama-names.ts';
import { decodeF16 } from '../src/formats/f16.ts';

const data = resolve('../shared/data');
const stories = join(data, 'models/stories260K/stories260K.gguf');
const storiesBin = join(data, 'models/stories260K/stories260K.bin');
const tiny = join(data, 'models/llama-2-tiny-random/llama-2-tiny-random.gguf');
const skip = existsSync(data) ? false : `shared data not found at ${data}`;
if (skip) console.log(`skipping real-data format tests: ${skip}`);

const dir = mkdtempSync(join(tmpdir(), 'whet-real-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

test('stories260K.gguf: v3, all F32, the documented dimensions and a 512-entry embedded vocab', { skip }, () => {
  const f = readGguf(stories);
  assert.equal(f.version, 3);
  assert.equal(f.metadata['general.architecture'], 'llama');
  assert.equal(f.metadata['llama.embedding_length'], 64);
  assert.equal(f.metadata['llama.feed_forward_length'], 172);
  assert.equal(f.metadata['llama.block_count'], 5);
  assert.equal(f.metadata['llama.attention.head_count'], 8);
  assert.equal(f.metadata['llama.attention.head_count_kv'], 4);
  for (const key of ['tokenizer.ggml.tokens', 'tokenizer.ggml.scores', 'tokenizer.ggml.token_type']) {
    const v = f.metadata[key];
    assert.ok(Array.isArray(v) && v.length === 512, key);
  }
  assert.equal((f.metadata['tokenizer.ggml.tokens'] as string[])[1], '<s>');
  assert.equal(f.tensors.length, 3 + 5 * 9);
  assert.ok(f.tensors.every((t) => t.type === 'F32'));
  assert.deepEqual(ggufTensor(f, 'blk.0.attn_k.weight').shape, [32, 64]);
  assert.deepEqual(ggufTensor(f, 'blk.4.ffn_down.weight').shape, [64, 172]);

  const config = hfConfigFromGguf(f);
  assert.deepEqual(
    [config.hidden_size, config.intermediate_size, config.num_hidden_layers, config.num_attention_heads, config.num_key_value_heads, config.vocab_size, config.head_dim, config.rms_norm_eps, config.rope_theta],
    [64, 172, 5, 8, 4, 512, 8, 1e-5, 10000],
  );
  // Mapping back gives the same hyper-parameters the file holds.
  const md = ggufMetadataFromHfConfig(config as unknown as Record<string, unknown>);
  for (const key of ['llama.embedding_length', 'llama.block_count', 'llama.attention.head_count_kv', 'llama.context_length', 'llama.rope.dimension_count']) {
    assert.deepEqual(md[key], { type: 'u32', value: f.metadata[key] }, key);
  }
  assert.equal(Math.fround((md['llama.attention.layer_norm_rms_epsilon'] as { value: number }).value), f.metadata['llama.attention.layer_norm_rms_epsilon']);
});

test('stories260K.gguf tensors equal the llama2.c checkpoint of the same model bit for bit', { skip }, () => {
  // llama2.c layout: 7 int32 header, then token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final.
  const bin = readFileSync(storiesBin);
  const header = new Int32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + 28));
  const [dim, hidden, layers, heads, kvHeads, vocab] = header;
  const floats = new Float32Array(bin.buffer.slice(bin.byteOffset + 28, bin.byteOffset + bin.length - ((bin.length - 28) % 4)));
  const kvDim = (dim * kvHeads) / heads;
  let at = 0;
  const take = (n: number) => floats.subarray(at, (at += n));
  const perLayer = (size: number) => {
    const all = take(layers * size);
    return (l: number) => all.subarray(l * size, (l + 1) * size);
  };
  const emb = take(Math.abs(vocab) * dim);
  const src: Record<string, (l: number) => Float32Array> = {
    attn_norm: perLayer(dim), attn_q: perLayer(dim * dim), attn_k: perLayer(kvDim * dim), attn_v: perLayer(kvDim * dim),
    attn_output: perLayer(dim * dim), ffn_norm: perLayer(dim), ffn_gate: perLayer(hidden * dim), ffn_down: perLayer(dim * hidden),
    ffn_up: perLayer(hidden * dim),
  };
  const finalNorm = take(dim);
  const f = readGguf(stories);
  const same = (name: string, expected: Float32Array) => {
    assert.deepEqual(bytesOf(readGgufTensor(f, ggufTensor(f, name))), bytesOf(expected), name);
  };
  same('token_embd.weight', emb);
  same('output_norm.weight', finalNorm);
  for (let l = 0; l < layers; l++) for (const [name, get] of Object.entries(src)) same(`blk.${l}.${name}.weight`, get(l));
});

/** GGUF → HF-named tensors (q/k un-permuted) → sharded safetensors folder → back to GGUF with the original metadata. */
function roundTrip(f: GgufFile, name: string, shardBytes: number): string {
  const heads = attentionHeads(hfConfigFromGguf(f));
  const hf = new Map<string, SafetensorsTensor>();
  const raw = (t: GgufTensorInfo): Float32Array | Uint16Array =>
    t.type === 'F16' ? new Uint16Array(readGgufTensorBytes(f, t).buffer) : readGgufTensor(f, t);
  for (const t of f.tensors) {
    const converted = fromGgufTensor(t.name, t.shape, raw(t), heads);
    assert.ok(converted, `${t.name} has an HF name`);
    hf.set(converted.name, { dtype: t.type as 'F32' | 'F16', shape: t.shape, data: converted.data });
  }
  const folder = join(dir, name);
  mkdirSync(folder);
  writeSafetensorsSharded(folder, hf, shardBytes);
  const byGgufName = new Map<string, GgufWriteTensor>();
  for (const [hfName, s] of readSafetensorsFolder(folder).tensors) {
    const g = toGgufTensor(hfName, s.shape, s.data as Float32Array | Uint16Array, heads);
    assert.ok(g, `${hfName} has a GGUF name`);
    byGgufName.set(g.name, { name: g.name, shape: s.shape, type: s.dtype as 'F32' | 'F16', data: g.data });
  }
  const path = join(dir, `${name}.gguf`);
  writeGguf(path, { metadata: ggufTypedMetadata(f), tensors: f.tensors.map((t) => byGgufName.get(t.name)!), alignment: f.alignment });
  return path;
}

test('stories260K: GGUF → HF safetensors (sharded) → GGUF preserves every tensor bit for bit', { skip }, () => {
  const f = readGguf(stories);
  const path = roundTrip(f, 'stories-hf', 200_000);
  const g = readGguf(path);
  assert.deepEqual(g.metadata, f.metadata);
  assert.deepEqual(g.types, f.types);
  assert.deepEqual(g.tensors.map((t) => [t.name, t.shape, t.type]), f.tensors.map((t) => [t.name, t.shape, t.type]));
  for (const t of f.tensors) assert.deepEqual(readGgufTensorBytes(g, ggufTensor(g, t.name)), readGgufTensorBytes(f, t), t.name);
  // The HF copy really is un-permuted (q differs from the GGUF rows) and really is sharded.
  const hf = readSafetensorsFolder(join(dir, 'stories-hf'));
  assert.ok(hf.files.length > 1);
  assert.notDeepEqual(bytesOf(hf.tensors.get('model.layers.0.self_attn.q_proj.weight')!.data), readGgufTensorBytes(f, ggufTensor(f, 'blk.0.attn_q.weight')));
  assert.deepEqual(bytesOf(hf.tensors.get('model.layers.0.self_attn.v_proj.weight')!.data), readGgufTensorBytes(f, ggufTensor(f, 'blk.0.attn_v.weight')));
  // Same tensor order, metadata order and alignment as llama.cpp's writer: the whole file comes back identical.
  assert.deepEqual(readFileSync(path), readFileSync(stories));
});

test('llama-2-tiny-random.gguf: F16 matrices dequantise to finite floats; 32,000-token vocab; F16 round trip is exact', { skip }, () => {
  const f = readGguf(tiny);
  assert.equal(f.version, 3);
  assert.equal((f.metadata['tokenizer.ggml.tokens'] as string[]).length, 32000);
  assert.equal((f.metadata['tokenizer.ggml.scores'] as number[]).length, 32000);
  const f16 = f.tensors.filter((t) => t.type === 'F16');
  assert.ok(f16.length >= 7);
  for (const t of f16) {
    const w = readGgufTensor(f, t);
    assert.ok(w instanceof Float32Array);
    assert.equal(w.length, t.shape.reduce((a, b) => a * b, 1));
    assert.ok(w.every(Number.isFinite), t.name);
    assert.ok(w.some((x) => x !== 0), t.name);
    assert.deepEqual(w, decodeF16(new Uint16Array(readGgufTensorBytes(f, t).buffer)));
  }
  assert.deepEqual(ggufTensor(f, 'token_embd.weight').shape, [32000, 8]);
  assert.equal(hfConfigFromGguf(f).vocab_size, 32000);

  const path = roundTrip(f, 'tiny-hf', 10_000_000);
  const g = readGguf(path);
  for (const t of f.tensors) assert.deepEqual(readGgufTensorBytes(g, ggufTensor(g, t.name)), readGgufTensorBytes(f, t), t.name);
  assert.deepEqual(g.metadata, f.metadata);
});
