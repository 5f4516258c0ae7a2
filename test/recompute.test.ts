// Selective recomputation: norm outputs and SwiGLU products leave memory after their block and come back,
// bit-identical, when backward reads them; in-place writes keep a tensor resident; a whole model's gradients
// (q/k norms, RoPE in place, LoRA with dropout) still match finite differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.ts';
import { rmsnorm, rope, swiglu } from '../src/tensor/ops/layers.ts';
import { linear } from '../src/tensor/ops/matmul.ts';
import { dropRecomputable } from '../src/tensor/tensor.ts';
import { poolStats } from '../src/tensor/pool.ts';
import { configFromHf } from '../src/model/config.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { LoraLinear } from '../src/adapters/lora.ts';
import { linearLayers } from '../src/adapters/apply.ts';
import { gradcheck, leaf } from './helpers/gradcheck.ts';

const rng = new T.Rng(3);

/** Gradients of sum(f(inputs)·R) for every input, as plain arrays. */
function grads(f: () => T.Tensor, inputs: T.Tensor[]): number[][] {
  return T.tidy(() => {
    const y = f();
    const r = T.randn(y.shape, new T.Rng(9));
    for (const x of inputs) x.grad = null;
    T.backward(T.sum(T.mul(y, r)));
    return inputs.map((x) => {
      const g = x.grad!.toArray();
      x.grad!.dispose();
      x.grad = null;
      return g;
    });
  });
}

test('norm outputs and SwiGLU products are dropped after the block and recomputed exactly in backward', () => {
  const x = T.randn([64, 32], rng).requireGrad();
  const w = T.randn([32], rng).requireGrad();
  const gateW = T.randn([48, 32], rng).requireGrad();
  const upW = T.randn([48, 32], rng).requireGrad();
  const downW = T.randn([32, 48], rng).requireGrad();
  const block = () => {
    const n = rmsnorm(x, w, 1e-6); // (64, 32), read by both projections' weight gradients
    return linear(swiglu(linear(n, gateW), linear(n, upW)), downW); // the product is read by downW's gradient
  };
  const inputs = [x, w, gateW, upW, downW];
  const kept = grads(block, inputs);
  let heldAfterBlock = 0;
  let heldWithoutDropping = 0;
  const dropped = grads(() => {
    const before = poolStats().requestedBytes;
    T.tidy(() => {
      const y = block();
      heldWithoutDropping = poolStats().requestedBytes - before;
      y.dispose();
    });
    const start = poolStats().requestedBytes;
    const y = dropRecomputable(block);
    heldAfterBlock = poolStats().requestedBytes - start;
    return y;
  }, inputs);
  assert.deepEqual(dropped, kept, 'recomputed activations give bit-identical gradients');
  const freed = heldWithoutDropping - heldAfterBlock;
  assert.equal(freed, 4 * (64 * 32 + 64 * 48), `the norm output and the SwiGLU product leave memory (freed ${freed} bytes)`);
  for (const t of inputs) t.dispose();
});

test('kept in bf16, SwiGLU\'s gate and up take half the bytes and give gradients within bf16 precision', () => {
  const x = T.randn([64, 32], rng).requireGrad();
  const gateW = T.randn([48, 32], rng, 0.3).requireGrad();
  const upW = T.randn([48, 32], rng, 0.3).requireGrad();
  const downW = T.randn([32, 48], rng, 0.3).requireGrad();
  const block = () => linear(swiglu(linear(x, gateW), linear(x, upW)), downW);
  const inputs = [x, gateW, upW, downW];
  const held = (dtype: 'f32' | 'bf16') => {
    let bytes = 0;
    const g = grads(() => {
      const start = poolStats().requestedBytes;
      const y = T.withSavedActivations(dtype, () => dropRecomputable(block));
      bytes = poolStats().requestedBytes - start;
      return y;
    }, inputs);
    return { g, bytes };
  };
  const exact = held('f32');
  const half = held('bf16');
  assert.equal(exact.bytes - half.bytes, 2 * 64 * 48 * 2, 'gate and up: 2 bytes per value instead of 4');
  let differs = false;
  half.g.forEach((g, i) => {
    const scale = Math.max(...exact.g[i]!.map(Math.abs));
    g.forEach((v, j) => {
      const e = exact.g[i]![j]!;
      if (v !== e) differs = true;
      assert.ok(Math.abs(v - e) <= 1e-2 * scale, `input ${i} element ${j}: ${v} vs ${e}`);
    });
  });
  assert.ok(differs, 'the bf16 copies were used');
  for (const t of inputs) t.dispose();
});

test('a tensor overwritten in place (RoPE on a q-norm output) stays resident and its gradient stays right', () => {
  const positions = Int32Array.from({ length: 6 }, (_, i) => i);
  const invFreq = Float32Array.from({ length: 4 }, (_, i) => 1 / 10000 ** (i / 4));
  const q = T.randn([1, 6, 2, 8], rng).requireGrad();
  const w = T.randn([8], rng).requireGrad();
  const wo = T.randn([5, 16], rng).requireGrad();
  const block = () => {
    const n = rope(rmsnorm(q, w, 1e-6), { positions, invFreq, interleaved: false, inPlace: true }); // rotates the norm's own buffer
    return linear(T.reshape(n, [6, 16]), wo);
  };
  assert.deepEqual(grads(() => dropRecomputable(block), [q, w, wo]), grads(block, [q, w, wo]));
});

test('a Qwen3-style model with LoRA dropout: gradients through recomputed activations match finite differences', () => {
  const cfg = configFromHf({ model_type: 'qwen3', hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, vocab_size: 20, rms_norm_eps: 1e-6, max_position_embeddings: 32, tie_word_embeddings: true });
  const weights = new T.Rng(5);
  const model = new LlamaModel(cfg, (name, shape) => {
    const t = leaf(shape, weights, -0.5, 0.5);
    if (name.endsWith('norm.weight')) t.f.forEach((v, i, a) => (a[i] = 1 + v));
    return T.keep(t);
  });
  const dropoutRng = new T.Rng(2);
  const loras: LoraLinear[] = [];
  for (const [path, { layer, replace }] of linearLayers(model)) {
    if (!/layers\.0\.(self_attn\.q_proj|mlp\.down_proj)$/.test(path)) continue;
    const [out, inF] = layer.weight.shape as [number, number];
    const lora = new LoraLinear(layer, leaf([2, inF], rng), leaf([out, 2], rng), { alpha: 4, dropout: 0.3, dropoutRng });
    lora.training = true;
    replace(lora);
    loras.push(lora);
  }
  const ids = Int32Array.from([3, 7, 1, 19, 4, 4, 11, 0]);
  const start = dropoutRng.getState();
  const forward = () => {
    dropoutRng.setState(start); // the same masks for every evaluation
    return model.forward(ids, 2);
  };
  const layer0 = model.model.layers[0]!;
  const params = [loras[0]!.lora_A.weight, loras[1]!.lora_A.weight, layer0.input_layernorm.weight, layer0.post_attention_layernorm.weight, layer0.self_attn.q_norm!.weight];
  gradcheck(() => forward(), params, { tol: 1e-5 });
  model.dispose();
});
