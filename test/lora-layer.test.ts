// LoRA layer and model wrapping: forward against hand-computed sums, init, dropout, targets, frozen base, training, merge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.ts';
import { Linear } from '../src/nn/layers.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { configFromHf } from '../src/model/config.ts';
import { AdamW } from '../src/optim/adamw.ts';
import { LoraLinear } from '../src/adapters/lora.ts';
import { applyLora, loraLayers, loraParameters, mergeLora, setLoraEnabled, setLoraTraining, unloadLora, type LoraConfig } from '../src/adapters/apply.ts';
import { withExactBf16 } from './helpers/exact-bf16.ts';

const tinyConfig = () =>
  configFromHf({ model_type: 'llama', hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 50 });

const ids = Int32Array.from({ length: 2 * 7 }, (_, i) => (i * 7 + 3) % 50);

function logitsOf(model: LlamaModel): number[] {
  return T.noGrad(() => T.tidy(() => model.logits(model.forward(ids, 2)).toArray()));
}

function lossOf(model: LlamaModel): T.Tensor {
  const targets = Int32Array.from(ids, (_, i) => ids[(i + 1) % ids.length]!);
  const logits = model.logits(model.forward(ids, 2)); // (B, T, V)
  return T.crossEntropy(T.reshape(logits, [ids.length, 50]), targets);
}

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

function maxDiff(a: number[], b: number[]): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

/** Gives every B a random non-zero value so the adapter changes the output. */
function randomizeB(model: LlamaModel, seed: number, std = 0.05): void {
  const rng = new T.Rng(seed);
  for (const { layer } of loraLayers(model)) {
    const b = layer.lora_B.weight.f;
    for (let i = 0; i < b.length; i++) b[i] = rng.normal() * std;
  }
}

const cfg = (over: Partial<LoraConfig> = {}): LoraConfig => ({ r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'v_proj'], seed: 3, ...over });

for (const rsLora of [false, true]) {
  test(`LoraLinear forward = base(x) + s·x·Aᵀ·Bᵀ by hand (${rsLora ? 'rsLoRA, s = alpha/√r' : 's = alpha/r'})`, () => {
    const rng = new T.Rng(11);
    const [inF, outF, r, alpha] = [6, 5, 3, 7];
    const base = Linear.init(inF, outF, rng, { bias: true });
    const lora = LoraLinear.fromBase(base, { r, alpha, rsLora, rng });
    const B = lora.lora_B.weight.f;
    for (let i = 0; i < B.length; i++) B[i] = rng.normal();
    const [W, b, A] = [base.weight.toArray(), base.bias!.toArray(), lora.lora_A.weight.toArray()];
    const x = T.randn([2, 4, inF], rng);
    const y = lora.forward(x).toArray();
    const xs = x.toArray();
    const s = rsLora ? alpha / Math.sqrt(r) : alpha / r;
    const expected: number[] = [];
    for (let row = 0; row < 8; row++) {
      const xr = xs.slice(row * inF, (row + 1) * inF);
      const ax = Array.from({ length: r }, (_, j) => xr.reduce((acc, v, i) => acc + A[j * inF + i]! * v, 0));
      for (let o = 0; o < outF; o++) {
        let v = b[o]!;
        for (let i = 0; i < inF; i++) v += W[o * inF + i]! * xr[i]!;
        for (let j = 0; j < r; j++) v += s * B[o * r + j]! * ax[j]!;
        expected.push(v);
      }
    }
    assertClose(y, expected, 1e-5, 'y');
    assert.ok(Math.abs(lora.scaling - s) < 1e-12);
  });
}

test('LoraLinear init: A ~ U(±1/√in) from the seed, B = 0; base frozen, A and B trainable', () => {
  const base = Linear.init(64, 16, new T.Rng(1));
  const a = LoraLinear.fromBase(base, { r: 8, alpha: 16, rng: new T.Rng(5) });
  const A = a.lora_A.weight.toArray();
  assert.deepEqual(a.lora_A.weight.shape, [8, 64]);
  assert.deepEqual(a.lora_B.weight.shape, [16, 8]);
  assert.ok(A.every((v) => Math.abs(v) <= 1 / 8), 'A within ±1/√in');
  assert.ok(Math.max(...A) > 0.1 && Math.min(...A) < -0.1, 'A spreads over its range');
  assert.ok(a.lora_B.weight.toArray().every((v) => v === 0), 'B is zero');
  assert.equal(base.weight.requiresGrad, false);
  assert.ok(a.lora_A.weight.requiresGrad && a.lora_B.weight.requiresGrad);
  const again = LoraLinear.fromBase(Linear.init(64, 16, new T.Rng(1)), { r: 8, alpha: 16, rng: new T.Rng(5) });
  assert.deepEqual(again.lora_A.weight.toArray(), A, 'same seed, same A');
  assert.deepEqual(a.namedTensors().map(([n]) => n), ['base_layer.weight', 'lora_A.weight', 'lora_B.weight']);
});

test('LoRA dropout: training only, inverted scaling, seeded', () => {
  // Zero base, A = B = identity and s = 1 make the layer output exactly dropout(x).
  const n = 16;
  const eye = T.tensor(Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0)), [n, n]);
  const make = (seed: number) =>
    new LoraLinear(new Linear(T.zeros([n, n])), T.tensor(eye.toArray(), [n, n]), T.tensor(eye.toArray(), [n, n]), { alpha: n, dropout: 0.25, dropoutRng: new T.Rng(seed) });
  const lora = make(9);
  const x = T.randn([64, n], new T.Rng(2));
  const xs = x.toArray();
  assertClose(lora.forward(x).toArray(), xs, 1e-6, 'eval mode passes x through');
  lora.training = true;
  const y = lora.forward(x).toArray();
  let dropped = 0;
  y.forEach((v, i) => {
    if (v === 0) dropped++;
    else assert.ok(Math.abs(v - xs[i]! / 0.75) < 1e-5, `kept value scaled by 1/(1-p): ${v} vs ${xs[i]! / 0.75}`);
  });
  const frac = dropped / y.length;
  assert.ok(frac > 0.18 && frac < 0.32, `dropped fraction ${frac} near 0.25`);
  const twin = make(9);
  twin.training = true;
  assert.deepEqual(twin.forward(x).toArray(), y, 'same seed, same mask');
  assert.notDeepEqual(twin.forward(x).toArray(), y, 'each call draws a new mask');
});

test('at init the wrapped model equals the base; disabled adapter equals the base', () => {
  const model = LlamaModel.random(tinyConfig(), new T.Rng(1));
  const base = logitsOf(model);
  const layers = applyLora(model, cfg());
  assert.equal(layers.length, 4);
  assert.deepEqual(logitsOf(model), base, 'B = 0: logits unchanged');
  randomizeB(model, 2);
  const adapted = logitsOf(model);
  assert.ok(maxDiff(adapted, base) > 1e-3, 'a non-zero B changes the logits');
  setLoraEnabled(model, false);
  assert.deepEqual(logitsOf(model), base, 'adapter off: the base');
  setLoraEnabled(model, true);
  assert.deepEqual(logitsOf(model), adapted, 'adapter back on');
  setLoraTraining(model, true);
  assert.ok(loraLayers(model).every(({ layer }) => layer.training));
});

test('targets: names as PEFT matches them; all-linear is the 7 projections per layer, never lm_head', () => {
  const model = LlamaModel.random(tinyConfig(), new T.Rng(1));
  applyLora(model, cfg({ targetModules: 'all-linear' }));
  const paths = loraLayers(model).map(({ path }) => path);
  const perLayer = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'];
  assert.deepEqual(paths, [0, 1].flatMap((l) => perLayer.map((p) => `model.layers.${l}.${p}`)));
  assert.ok(model.lm_head instanceof Linear, 'lm_head untouched');
  const names = model.namedTensors().map(([n]) => n);
  assert.ok(names.includes('model.layers.0.self_attn.q_proj.base_layer.weight'));
  assert.ok(names.includes('model.layers.1.mlp.down_proj.lora_B.weight'));

  const m2 = LlamaModel.random(tinyConfig(), new T.Rng(1));
  applyLora(m2, cfg({ targetModules: ['self_attn.o_proj', 'up_proj'] }));
  assert.deepEqual(loraLayers(m2).map(({ path }) => path), ['model.layers.0.self_attn.o_proj', 'model.layers.0.mlp.up_proj', 'model.layers.1.self_attn.o_proj', 'model.layers.1.mlp.up_proj']);
  assert.throws(() => applyLora(m2, cfg()), /already has LoRA/);

  const m3 = LlamaModel.random(tinyConfig(), new T.Rng(1));
  assert.throws(() => applyLora(m3, cfg({ targetModules: ['qproj'] })), /match no Linear layer.*q_proj/);
  assert.throws(() => applyLora(m3, cfg({ targetModules: ['lm_head'] })), /output head/);
  assert.throws(() => applyLora(m3, cfg({ r: 0 })), /rank/);
  assert.throws(() => applyLora(m3, cfg({ dropout: 1 })), /dropout/);
  assert.equal(loraLayers(m3).length, 0, 'refusals leave the model unchanged');
  assert.ok(m3.parameters().length > 0, 'and trainable');
});

test('gradients flow only into lora_A / lora_B; the base (bf16 or f32) gets none', () => {
  for (const dtype of ['f32', 'bf16'] as const) {
    const model = LlamaModel.random(tinyConfig(), new T.Rng(4), { dtype });
    applyLora(model, cfg({ targetModules: 'all-linear' }));
    randomizeB(model, 5);
    const params = model.parameters();
    assert.deepEqual(params, loraParameters(model), `${dtype}: parameters() is exactly the LoRA weights`);
    assert.equal(params.length, 2 * 7 * 2);
    T.tidy(() => T.backward(lossOf(model)));
    for (const [name, t] of model.namedTensors()) {
      if (/lora_[AB]/.test(name)) {
        assert.ok(t.grad !== null, `${dtype}: ${name} has a gradient`);
        assert.ok(t.grad.toArray().some((v) => v !== 0), `${dtype}: ${name} gradient is non-zero`);
      } else assert.equal(t.grad, null, `${dtype}: ${name} must get no gradient`);
    }
    model.dispose();
  }
});

test('a few AdamW steps on the LoRA weights lower the loss; the base does not move', () => {
  const model = LlamaModel.random(tinyConfig(), new T.Rng(6));
  const before = model.namedTensors().filter(([n]) => !/lora_/.test(n)).map(([, t]) => t.toArray());
  applyLora(model, cfg({ r: 8, alpha: 16, dropout: 0.05, targetModules: 'all-linear' }));
  setLoraTraining(model, true);
  const opt = new AdamW(loraParameters(model), { lr: 1e-2 });
  const losses: number[] = [];
  let liveAfterFirst = 0;
  for (let step = 0; step < 12; step++) {
    if (step === 1) liveAfterFirst = T.liveTensorCount();
    losses.push(
      T.tidy(() => {
        const loss = lossOf(model);
        T.backward(loss);
        opt.update();
        opt.zeroGrad();
        return loss.item();
      }),
    );
  }
  assert.equal(T.liveTensorCount(), liveAfterFirst, 'no tensor leaks per step (dropout masks included)');
  assert.ok(losses[11]! < losses[0]! - 0.2, `loss should fall: ${losses[0]} → ${losses[11]}`);
  const after = model.namedTensors().filter(([n]) => !/lora_/.test(n)).map(([, t]) => t.toArray());
  assert.deepEqual(after, before, 'frozen weights unchanged');
  opt.dispose();
});

test('merge: merged logits equal the LoRA model\'s; merged layers are plain Linears', () => {
  for (const rsLora of [false, true]) {
    const model = LlamaModel.random(tinyConfig(), new T.Rng(7));
    const live = T.liveTensorCount();
    applyLora(model, cfg({ targetModules: 'all-linear', rsLora }));
    randomizeB(model, 8);
    const lora = logitsOf(model);
    assert.equal(mergeLora(model), 14);
    assert.equal(T.liveTensorCount(), live, 'A, B and the deltas are freed');
    assert.equal(loraLayers(model).length, 0);
    assert.ok(model.model.layers[0]!.self_attn.q_proj instanceof Linear);
    assert.ok(!model.namedTensors().some(([n]) => /lora_|base_layer/.test(n)), 'HF names again');
    assertClose(logitsOf(model), lora, 1e-4, `merged logits (rsLoRA ${rsLora})`);
  }
});

test('merge refuses a bf16 base unless given f32 copies, which it then merges into', () => {
  const model = LlamaModel.random(tinyConfig(), new T.Rng(9), { dtype: 'bf16' });
  const copies = new Map(model.namedTensors().filter(([, t]) => t.dtype === 'bf16').map(([n, t]) => [n, T.keep(T.tensor(t.toArray(), t.shape))] as const));
  applyLora(model, cfg());
  randomizeB(model, 10);
  // Exact bf16 products (the layers not merged stay bf16), so that the merged f32 copies must reproduce them to f32 rounding.
  const lora = withExactBf16(() => logitsOf(model));
  assert.throws(() => mergeLora(model), /bf16.*full precision/);
  assert.equal(loraLayers(model).length, 4, 'the refusal leaves the adapters in place');
  assert.equal(mergeLora(model, { f32Weight: (name) => copies.get(name) }), 4);
  const q = model.model.layers[0]!.self_attn.q_proj;
  assert.equal(q.weight.dtype, 'f32');
  assert.equal(q.weight, copies.get('model.layers.0.self_attn.q_proj.weight'));
  assertClose(withExactBf16(() => logitsOf(model)), lora, 1e-4, 'merged into the f32 copies');
});

test('unload removes the adapters without merging', () => {
  const model = LlamaModel.random(tinyConfig(), new T.Rng(12));
  const base = logitsOf(model);
  applyLora(model, cfg());
  randomizeB(model, 13);
  unloadLora(model);
  assert.equal(loraLayers(model).length, 0);
  assert.deepEqual(logitsOf(model), base);
});
