// Checks HF ↔ GGUF tensor names, llama.cpp's q/k row permutation (by hand and by its rope meaning), and config ↔ metadata mapping.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGguf } from '../src/formats/gguf.ts';
import { writeGguf } from '../src/formats/gguf-write.ts';
import { rng as uniformSource } from './helpers/random.ts';
import {
  attentionHeads, fromGgufTensor, ggufMetadataFromHfConfig, ggufName, hfConfigFromGguf, hfName,
  permuteForGguf, toGgufTensor, unpermuteFromGguf,
} from '../src/formats/llama-names.ts';
import { throwsWhet } from './helpers/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'whet-names-'));
after(() => rmSync(dir, { recursive: true, force: true }));


function rng(seed: number): () => number {
  const uniform = uniformSource(seed);
  return () => uniform() - 0.5;
}

test('tensor names map both ways', () => {
  const pairs: [string, string][] = [
    ['model.embed_tokens.weight', 'token_embd.weight'],
    ['model.norm.weight', 'output_norm.weight'],
    ['lm_head.weight', 'output.weight'],
    ['model.layers.0.self_attn.q_proj.weight', 'blk.0.attn_q.weight'],
    ['model.layers.12.self_attn.k_proj.weight', 'blk.12.attn_k.weight'],
    ['model.layers.3.self_attn.v_proj.weight', 'blk.3.attn_v.weight'],
    ['model.layers.3.self_attn.o_proj.weight', 'blk.3.attn_output.weight'],
    ['model.layers.1.self_attn.q_proj.bias', 'blk.1.attn_q.bias'],
    ['model.layers.1.self_attn.k_proj.bias', 'blk.1.attn_k.bias'],
    ['model.layers.1.self_attn.v_proj.bias', 'blk.1.attn_v.bias'],
    ['model.layers.2.self_attn.q_norm.weight', 'blk.2.attn_q_norm.weight'],
    ['model.layers.2.self_attn.k_norm.weight', 'blk.2.attn_k_norm.weight'],
    ['model.layers.4.mlp.gate_proj.weight', 'blk.4.ffn_gate.weight'],
    ['model.layers.4.mlp.up_proj.weight', 'blk.4.ffn_up.weight'],
    ['model.layers.4.mlp.down_proj.weight', 'blk.4.ffn_down.weight'],
    ['model.layers.5.input_layernorm.weight', 'blk.5.attn_norm.weight'],
    ['model.layers.5.post_attention_layernorm.weight', 'blk.5.ffn_norm.weight'],
  ];
  for (const [hf, gguf] of pairs) {
    assert.equal(ggufName(hf), gguf);
    assert.equal(hfName(gguf), hf);
  }
  for (const name of ['model.layers.0.self_attn.rotary_emb.inv_freq', 'model.layers.0.mlp.experts.weight', 'foo.weight', 'lm_head']) {
    assert.equal(ggufName(name), undefined, name);
  }
  for (const name of ['rope_freqs.weight', 'blk.0.ffn_gate_exps.weight', 'output']) assert.equal(hfName(name), undefined, name);
});

test('permutation matches convert_hf_to_gguf.py (hand-checked rows) and unpermute inverts it', () => {
  // 6 rows × 1 column, one head: GGUF row 2i+j = HF row j·3+i.
  assert.deepEqual([...permuteForGguf(Float32Array.from([0, 1, 2, 3, 4, 5]), [6, 1], 1)], [0, 3, 1, 4, 2, 5]);
  // 24 × 3 with 2 and 3 heads (first column of each row), as numpy's reshape/swapaxes gives.
  const w = Float32Array.from({ length: 72 }, (_, i) => i);
  const firstCol = (x: Float32Array) => Array.from({ length: 24 }, (_, r) => x[r * 3]);
  assert.deepEqual(firstCol(permuteForGguf(w, [24, 3], 2)), [0, 18, 3, 21, 6, 24, 9, 27, 12, 30, 15, 33, 36, 54, 39, 57, 42, 60, 45, 63, 48, 66, 51, 69]);
  assert.deepEqual(firstCol(permuteForGguf(w, [24, 3], 3)), [0, 12, 3, 15, 6, 18, 9, 21, 24, 36, 27, 39, 30, 42, 33, 45, 48, 60, 51, 63, 54, 66, 57, 69]);
  // Whole rows move: each permuted row is a contiguous copy of some source row.
  const p = permuteForGguf(w, [24, 3], 2);
  for (let r = 0; r < 24; r++) assert.deepEqual([p[r * 3 + 1], p[r * 3 + 2]], [p[r * 3] + 1, p[r * 3] + 2]);

  const rand = rng(7);
  for (const [rows, cols, heads] of [[64, 64, 8], [32, 64, 4], [24, 5, 3], [16, 1, 2]]) {
    const x = Float32Array.from({ length: rows * cols }, rand);
    const y = permuteForGguf(x, cols === 1 ? [rows] : [rows, cols], heads);
    assert.notDeepEqual(y, x);
    assert.deepEqual(unpermuteFromGguf(y, cols === 1 ? [rows] : [rows, cols], heads), x);
  }
  const bits = Uint16Array.from({ length: 8 * 3 }, (_, i) => i * 7);
  const pb = permuteForGguf(bits, [8, 3], 2);
  assert.ok(pb instanceof Uint16Array);
  assert.deepEqual(unpermuteFromGguf(pb, [8, 3], 2), bits);
  throwsWhet(() => permuteForGguf(new Float32Array(12), [6, 2], 2), /rows must be a multiple of 2·heads/);
});

test('the permutation turns HF half-split rope into llama.cpp pairwise rope with identical attention scores', () => {
  const rand = rng(11);
  const heads = 2, d = 8, inDim = 5;
  const wq = Float32Array.from({ length: heads * d * inDim }, rand);
  const wk = Float32Array.from({ length: heads * d * inDim }, rand);
  const x = Float32Array.from({ length: inDim }, rand);
  const matvec = (w: Float32Array) => Array.from({ length: heads * d }, (_, r) => x.reduce((s, xi, c) => s + w[r * inDim + c] * xi, 0));
  // q and k at different positions: at equal positions any rotation pairing would cancel out of the score.
  const theta = (i: number, pos: number) => pos * 10000 ** (-2 * i / d);
  const ropeHalf = (v: number[], pos: number) => v.map((_, r) => {
    const h = Math.floor(r / d), k = r % d, i = k % (d / 2), base = h * d;
    const [a, b] = [v[base + i], v[base + i + d / 2]];
    return k < d / 2 ? a * Math.cos(theta(i, pos)) - b * Math.sin(theta(i, pos)) : b * Math.cos(theta(i, pos)) + a * Math.sin(theta(i, pos));
  });
  const ropePairs = (v: number[], pos: number) => v.map((_, r) => {
    const k = r % d, i = k >> 1, base = r - (k & 1);
    const [a, b] = [v[base], v[base + 1]];
    return (k & 1) === 0 ? a * Math.cos(theta(i, pos)) - b * Math.sin(theta(i, pos)) : b * Math.cos(theta(i, pos)) + a * Math.sin(theta(i, pos));
  });
  const scores = (q: number[], k: number[]) => Array.from({ length: heads }, (_, h) => q.slice(h * d, h * d + d).reduce((s, qi, i) => s + qi * k[h * d + i], 0));
  const hf = scores(ropeHalf(matvec(wq), 5), ropeHalf(matvec(wk), 2));
  const gguf = scores(ropePairs(matvec(permuteForGguf(wq, [heads * d, inDim], heads)), 5), ropePairs(matvec(permuteForGguf(wk, [heads * d, inDim], heads)), 2));
  for (let h = 0; h < heads; h++) assert.ok(Math.abs(hf[h] - gguf[h]) < 1e-9, `head ${h}: ${hf[h]} vs ${gguf[h]}`);
  // Without the permutation the scores differ: the test can tell.
  const wrong = scores(ropePairs(matvec(wq), 5), ropePairs(matvec(wk), 2));
  assert.ok(Math.abs(hf[0] - wrong[0]) > 1e-6 || Math.abs(hf[1] - wrong[1]) > 1e-6);
});

test('tensor conversion permutes llama q with query heads and k with KV heads; qwen keeps HF order', () => {
  const llama = attentionHeads({ model_type: 'llama', num_attention_heads: 4, num_key_value_heads: 2 });
  assert.deepEqual(llama, { arch: 'llama', nHead: 4, nHeadKv: 2 });
  const q = Float32Array.from({ length: 16 * 2 }, (_, i) => i);
  const k = Float32Array.from({ length: 8 * 2 }, (_, i) => i);
  const gq = toGgufTensor('model.layers.0.self_attn.q_proj.weight', [16, 2], q, llama)!;
  assert.equal(gq.name, 'blk.0.attn_q.weight');
  assert.deepEqual(gq.data, permuteForGguf(q, [16, 2], 4));
  const gk = toGgufTensor('model.layers.0.self_attn.k_proj.weight', [8, 2], k, llama)!;
  assert.deepEqual(gk.data, permuteForGguf(k, [8, 2], 2));
  assert.deepEqual(fromGgufTensor('blk.0.attn_k.weight', [8, 2], gk.data, llama), { name: 'model.layers.0.self_attn.k_proj.weight', data: k });
  const v = toGgufTensor('model.layers.0.self_attn.v_proj.weight', [8, 2], k, llama)!;
  assert.equal(v.data, k);
  assert.equal(toGgufTensor('model.rotary_emb.inv_freq', [4], new Float32Array(4), llama), undefined);
  assert.equal(fromGgufTensor('rope_freqs.weight', [4], new Float32Array(4), llama), undefined);

  const qwen = attentionHeads({ model_type: 'qwen2', num_attention_heads: 4, num_key_value_heads: 2 });
  assert.equal(toGgufTensor('model.layers.0.self_attn.q_proj.weight', [16, 2], q, qwen)!.data, q);
  assert.equal(attentionHeads({ model_type: 'mistral', num_attention_heads: 4, num_key_value_heads: 2 }).arch, 'llama');
  throwsWhet(() => attentionHeads({ model_type: 'gpt2', num_attention_heads: 4, num_key_value_heads: 4 }), /model_type 'gpt2' is not supported/);
});

test('HF config → GGUF metadata (typed as llama.cpp expects) → HF config round trip', () => {
  const config = {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 64, intermediate_size: 172, num_hidden_layers: 5,
    num_attention_heads: 8, num_key_value_heads: 4, head_dim: 8, hidden_act: 'silu', rms_norm_eps: 1e-5, rope_theta: 500000,
    max_position_embeddings: 512, vocab_size: 512, tie_word_embeddings: false, attention_bias: false,
  };
  const md = ggufMetadataFromHfConfig(config);
  assert.deepEqual(md['llama.block_count'], { type: 'u32', value: 5 });
  assert.deepEqual(md['llama.attention.layer_norm_rms_epsilon'], { type: 'f32', value: 1e-5 });
  assert.deepEqual(md['llama.rope.freq_base'], { type: 'f32', value: 500000 });
  assert.equal(md['general.architecture'], 'llama');
  const path = join(dir, 'cfg.gguf');
  const t = (name: string, shape: number[]) => ({ name, shape, type: 'F32' as const, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  writeGguf(path, { metadata: md, tensors: [t('token_embd.weight', [512, 64]), t('output.weight', [512, 64])] });
  const f = readGguf(path);
  assert.equal(f.types['llama.embedding_length'], 'u32');
  assert.equal(f.types['llama.attention.layer_norm_rms_epsilon'], 'f32');
  assert.deepEqual(hfConfigFromGguf(f), config);

  // Without output.weight the embeddings are tied; vocab falls back to the tokenizer's token count.
  const metadata: typeof f.metadata = { ...f.metadata, 'tokenizer.ggml.tokens': ['a', 'b', 'c'], 'tokenizer.ggml.bos_token_id': 1 };
  delete metadata['llama.vocab_size'];
  const tied = { ...f, metadata, tensors: f.tensors.filter((x) => x.name !== 'output.weight') };
  const back = hfConfigFromGguf(tied);
  assert.equal(back.tie_word_embeddings, true);
  assert.equal(back.vocab_size, 3);
  assert.equal(back.bos_token_id, 1);

  // Defaults follow transformers: KV heads = heads, eps 1e-6, theta 10000, head_dim = hidden / heads (Qwen3: 128).
  const minimal = { model_type: 'qwen2', hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 10, max_position_embeddings: 128 };
  const mq = ggufMetadataFromHfConfig(minimal);
  assert.equal(mq['general.architecture'], 'qwen2');
  assert.deepEqual(mq['qwen2.attention.head_count_kv'], { type: 'u32', value: 4 });
  assert.deepEqual(mq['qwen2.attention.key_length'], { type: 'u32', value: 8 });
  assert.deepEqual(mq['qwen2.attention.layer_norm_rms_epsilon'], { type: 'f32', value: 1e-6 });
  assert.deepEqual(mq['qwen2.rope.freq_base'], { type: 'f32', value: 10000 });
  assert.deepEqual(ggufMetadataFromHfConfig({ ...minimal, model_type: 'qwen3' })['qwen3.attention.key_length'], { type: 'u32', value: 128 });
});

test('config mapping errors name the source and the field', () => {
  const base = { model_type: 'llama', hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 10, max_position_embeddings: 128 };
  throwsWhet(() => ggufMetadataFromHfConfig({ ...base, model_type: 'gpt2' }, 'my/config.json'), /my\/config\.json: model_type 'gpt2' is not supported/);
  throwsWhet(() => ggufMetadataFromHfConfig({ ...base, hidden_size: undefined }), /config\.json: hidden_size is missing/);
  throwsWhet(() => ggufMetadataFromHfConfig({ ...base, num_hidden_layers: 2.5 }), /num_hidden_layers must be a positive integer/);
  throwsWhet(() => ggufMetadataFromHfConfig({ ...base, rope_scaling: { rope_type: 'llama3', factor: 8 } }), /rope_scaling .* is not supported/);
  assert.ok(ggufMetadataFromHfConfig({ ...base, rope_scaling: null }));
  const file = { path: 'm.gguf', tensors: [], metadata: { 'general.architecture': 'llama', 'llama.embedding_length': 8 } };
  throwsWhet(() => hfConfigFromGguf(file), /m\.gguf: metadata llama\.attention\.head_count is missing/);
  throwsWhet(() => hfConfigFromGguf({ ...file, metadata: { 'general.architecture': 'gpt2' } }), /m\.gguf: architecture 'gpt2' is not supported/);
  throwsWhet(() => hfConfigFromGguf({ ...file, metadata: {} }), /general\.architecture is missing/);
});
