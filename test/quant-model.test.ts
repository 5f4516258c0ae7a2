// Quantised weights kept quantised: products, lookups and LoRA gradients through them, a real model's perplexity
// after quantisation, QLoRA-style training on a quantised base, and full fine-tuning's refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as T from '../src/tensor/index.ts';
import { Tensor } from '../src/tensor/tensor.ts';
import { linear } from '../src/tensor/ops/matmul.ts';
import { embedding } from '../src/tensor/ops/layers.ts';
import { loraLinear } from '../src/tensor/ops/lora.ts';
import { linearCrossEntropy } from '../src/tensor/ops/linear-loss.ts';
import { dequantize, quantize, type QuantType } from '../src/formats/gguf-quant.ts';
import type { QuantDType } from '../src/tensor/dtype.ts';
import { loadModel, quantizedTensors } from '../src/model/load.ts';
import { convert } from '../src/model/convert.ts';
import { calibrationGrams } from '../src/model/calibration.ts';
import { ggufName } from '../src/formats/llama-names.ts';
import { perplexity } from '../src/eval/perplexity.ts';
import { applyLora } from '../src/adapters/apply.ts';
import { AdamW } from '../src/optim/adamw.ts';
import { trainableModel } from '../src/recipes/setup.ts';
import { resolveTrainConfig } from '../src/recipes/train-config.ts';
import { gradcheck, leaf } from './helpers/gradcheck.ts';
import { sharedPath, sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';

const TYPES: QuantDType[] = ['q8_0', 'q4_0', 'q4_k', 'q6_k'];

/** A quantised (rows, cols) weight from normal values, and its dequantised values as an f32 tensor. */
function quantWeight(type: QuantDType, rows: number, cols: number, seed: number): { q: Tensor; f: Tensor } {
  const rng = new T.Rng(seed);
  const values = Float32Array.from({ length: rows * cols }, () => rng.normal() * 0.5);
  const bytes = quantize(type.toUpperCase() as QuantType, values, cols);
  const q = Tensor.fromQuantized(bytes, [rows, cols], type);
  const f = Tensor.fromArray(dequantize(type.toUpperCase() as QuantType, bytes, rows * cols), [rows, cols]);
  return { q, f };
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

test('a quantised weight multiplies like its dequantised values: forward at decode and prefill sizes, and the gradient to x', () => {
  for (const type of TYPES) {
    const { q, f } = quantWeight(type, 70, 512, 3);
    for (const rows of [1, 5, 40]) {
      T.tidy(() => {
        const rng = new T.Rng(rows);
        const x = Tensor.fromArray(Float32Array.from({ length: rows * 512 }, () => rng.normal()), [rows, 512]).requireGrad();
        const yq = linear(x, q);
        const yf = linear(x, f);
        // Few rows may run on int8-quantised activations (as llama.cpp does): ~1% of the output's scale.
        const tol = rows <= 16 ? 2e-2 : 1e-4;
        assert.ok(maxRelDiff(yq.toArray(), yf.toArray()) < tol, `${type} forward, ${rows} rows`);
        const g = Tensor.fromArray(Float32Array.from({ length: rows * 70 }, () => rng.normal()), [rows, 70]);
        T.backward(T.sum(T.mul(yq, g)));
        const gq = x.grad!.toArray();
        x.grad = null;
        T.backward(T.sum(T.mul(yf, g)));
        assert.ok(maxRelDiff(gq, x.grad!.toArray()) < 1e-4, `${type} gradient to x, ${rows} rows`);
      });
    }
    assert.throws(() => q.requireGrad(), /frozen/);
    q.dispose();
    f.dispose();
  }
});

test('an embedding lookup in a quantised table returns its dequantised rows', () => {
  for (const type of TYPES) {
    const { q, f } = quantWeight(type, 9, 256, 5);
    const ids = Int32Array.of(4, 0, 8, 4);
    T.tidy(() => assert.deepEqual(embedding(q, ids).toArray(), embedding(f, ids).toArray()));
    q.dispose();
    f.dispose();
  }
});

test('LoRA through a frozen quantised base: gradients to x, A and B match finite differences (float64)', () => {
  for (const type of ['q8_0', 'q4_k'] as QuantDType[]) {
    const { q, f } = quantWeight(type, 3, 256, 9);
    const rng = new T.Rng(11);
    const x = leaf([2, 256], rng);
    const a = leaf([2, 256], rng, -0.1, 0.1);
    const b = leaf([3, 2], rng);
    gradcheck(([xx, aa, bb]) => loraLinear(xx!, q, undefined, aa!, bb!, 2), [x, a, b], { tol: 1e-5 });
    for (const t of [q, f, x, a, b]) t.dispose();
  }
});

// Q4_0 without calibration is ggml's reference quantiser, byte for byte, with llama.cpp's recipe (the output head in
// Q8_0, the token embedding in Q4_0): on a 64-wide model it costs +7.2% perplexity. GPTQ over other text of the same
// kind (whet convert --calibration) brings it to about +3.3%, every matrix still in plain Q4_0 blocks.
test('stories260K quantised by whet convert: Q8_0 perplexity within 1% of f32, Q4_0 within 5% with GPTQ calibration', { skip: sharedSkip }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-quant-'));
  try {
    const all = readFileSync(sharedPath('holdout-text/tinystories_val_slice.txt'), 'utf8');
    const text = all.slice(0, 20000);
    const f32 = loadModel(STORIES_GGUF);
    const ids = f32.tokenizer.encode(text, { addBos: true });
    const base = perplexity(f32.model, ids, 256).ppl;
    // Calibration on the text after the measured slice (disjoint from it), as `whet convert --calibration` does.
    const byModelName = calibrationGrams(f32.model, f32.tokenizer.encode(all.slice(20000, 150000), { addBos: true }), 256);
    const calibration = new Map([...byModelName].map(([name, v]) => [ggufName(name)!, v]));
    f32.model.dispose();
    assert.equal(calibration.size, 35, 'every linear layer of the 5 blocks has a Gram matrix');
    assert.equal(calibration.get('blk.0.attn_q.weight'), calibration.get('blk.0.attn_v.weight'), 'q, k and v share their input and its matrix');
    const ppl: Record<string, number> = {};
    for (const [name, dtype, limit, opts] of [['q8_0', 'q8_0', 0.01, {}], ['q4_0', 'q4_0', 0.08, {}], ['q4_0 gptq', 'q4_0', 0.05, { calibration }]] as const) {
      const out = path.join(dir, `stories-${name.replace(' ', '-')}.gguf`);
      convert(STORIES_GGUF, out, { dtype, ...opts });
      const loaded = loadModel(out, { dtype: 'bf16' });
      assert.ok(quantizedTensors(loaded.model).length >= 20, `${name}: matrices stay quantised (${quantizedTensors(loaded.model).length})`);
      ppl[name] = perplexity(loaded.model, ids, 256).ppl;
      loaded.model.dispose();
      assert.ok(Math.abs(ppl[name]! / base - 1) < limit, `${name}: perplexity ${ppl[name]!.toFixed(4)} vs f32 ${base.toFixed(4)}`);
      assert.ok(ppl[name] !== base, `${name}: quantisation changed nothing`);
    }
    assert.ok(ppl['q4_0 gptq']! < ppl.q4_0! - 0.05, `GPTQ helps: ${ppl['q4_0 gptq']!.toFixed(4)} vs ${ppl.q4_0!.toFixed(4)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('LoRA on a Q8_0 base learns a toy task as on the f32 base; full fine-tuning refuses the quantised base', { skip: sharedSkip }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-qlora-'));
  try {
    const q8 = path.join(dir, 'stories-q8_0.gguf');
    convert(STORIES_GGUF, q8, { dtype: 'q8_0' });
    const finalLoss = (file: string): { first: number; last: number } => {
      const { model, tokenizer } = loadModel(file, { dtype: 'bf16' });
      applyLora(model, { r: 8, alpha: 16, dropout: 0, targetModules: 'all-linear', seed: 1 });
      const opt = new AdamW(model.parameters(), { lr: 1e-2 });
      // The toy task: a sentence the model must learn to continue exactly.
      const seq = Int32Array.from(tokenizer.encode('Zog the purple robot sings backwards on Tuesdays. '.repeat(3), { addBos: true }));
      const ids = seq.subarray(0, seq.length - 1), targets = seq.slice(1);
      const losses: number[] = [];
      for (let step = 0; step < 40; step++)
        T.tidy(() => {
          const loss = linearCrossEntropy(model.forward(ids, 1), model.headWeight(), targets);
          losses.push(loss.item());
          T.backward(loss);
          opt.update();
          opt.zeroGrad();
        });
      model.dispose();
      return { first: losses[0]!, last: losses[losses.length - 1]! };
    };
    const f32 = finalLoss(STORIES_GGUF);
    const quant = finalLoss(q8);
    assert.ok(f32.last < f32.first / 3, `the f32 base learns (${f32.first} → ${f32.last})`);
    assert.ok(quant.last < quant.first / 3, `the Q8_0 base learns (${quant.first} → ${quant.last})`);
    assert.ok(Math.abs(quant.last - f32.last) < 0.05 * f32.first, `final losses: Q8_0 ${quant.last}, f32 ${f32.last}`);
    const cfg = resolveTrainConfig(undefined, { model: q8, data: 'unused.jsonl', out: path.join(dir, 'out'), method: 'full' });
    assert.throws(() => trainableModel(cfg), /quantised matrices .*full fine-tuning .*LoRA/s);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
