// DPO's step on a tiny Llama with LoRA: sequence log-probs equal a direct log-softmax, the reference is the model
// with its adapters off (and they come back on), or with the adapter it started from swapped in; the loss starts at
// log 2, and gradients reach only the adapters; KTO's batch and step on the same model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.ts';
import { configFromHf } from '../src/model/config.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { applyLora, loraLayers, setLoraEnabled } from '../src/adapters/apply.ts';
import { IGNORE_INDEX } from '../src/tensor/ops/loss.ts';
import type { TokenizedPair } from '../src/data/preference-tokenize.ts';
import { answerLogps, cachedReferenceLogps, dpoStepLoss, loraReference, pairBatch } from '../src/recipes/dpo-steps.ts';
import { feedbackBatch, ktoStepLoss } from '../src/recipes/kto-steps.ts';

const cfg = configFromHf({ model_type: 'llama', hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, vocab_size: 23, max_position_embeddings: 64 });

/** A pair on a prompt of p tokens: labels on the answer only. */
function pair(prompt: number[], chosen: number[], rejected: number[]): TokenizedPair {
  const side = (answer: number[]) => {
    const ids = Int32Array.from([...prompt, ...answer]);
    return { ids, labels: Int32Array.from(ids, (id, i) => (i < prompt.length ? IGNORE_INDEX : id)), truncated: 0 };
  };
  return { chosen: side(chosen), rejected: side(rejected), promptTokens: prompt.length };
}

const pairs = [pair([1, 5, 7], [9, 2, 3], [11, 4]), pair([1, 6], [8, 8, 8, 3], [12, 3])];

/** Σ log softmax(logits)[next token] over each row's answer, by the plain (unchunked) path. */
function directLogps(model: LlamaModel, batch: ReturnType<typeof pairBatch>): number[] {
  return T.noGrad(() => {
    const logits = model.logits(model.forward(batch.ids, batch.batch, { positions: batch.positions })).toArray(); // (R·T·V)
    const V = cfg.vocabSize;
    return Array.from({ length: batch.batch }, (_, r) => {
      let total = 0;
      for (let t = 0; t + 1 < batch.time; t++) {
        const target = batch.labels[r * batch.time + t + 1]!;
        if (target === IGNORE_INDEX) continue;
        const row = logits.slice((r * batch.time + t) * V, (r * batch.time + t + 1) * V);
        const max = Math.max(...row);
        total += row[target]! - max - Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
      }
      return total;
    });
  });
}

test('sequence log-probs of a pair batch equal a direct log-softmax; the reference is the model with adapters off', () => {
  const model = LlamaModel.random(cfg, new T.Rng(1));
  applyLora(model, { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear', seed: 1 });
  for (const { layer } of loraLayers(model)) layer.lora_B.weight.f.forEach((_, i, a) => (a[i] = 0.05 * Math.sin(i + 1))); // a trained-looking adapter
  const batch = pairBatch(pairs, 0);
  assert.equal(batch.batch, 4, 'chosen rows, then rejected rows');
  const policy = T.noGrad(() => answerLogps(model, batch).toArray());
  directLogps(model, batch).forEach((v, i) => assert.ok(Math.abs(v - policy[i]!) < 1e-4, `row ${i}: ${policy[i]} vs ${v}`));
  const ref = loraReference(model, false)(() => answerLogps(model, batch).toArray());
  assert.ok(loraLayers(model).every(({ layer }) => layer.enabled), 'adapters are on again');
  setLoraEnabled(model, false);
  const base = directLogps(model, batch);
  setLoraEnabled(model, true);
  base.forEach((v, i) => assert.ok(Math.abs(v - ref[i]!) < 1e-4, `reference row ${i}`));
  assert.ok(ref.some((v, i) => Math.abs(v - policy[i]!) > 1e-3), 'the adapter changes the policy');
  const averaged = T.noGrad(() => answerLogps(model, batch, true).toArray());
  [3, 4, 2, 2].forEach((n, i) => assert.ok(Math.abs(averaged[i]! - policy[i]! / n) < 1e-5, 'averaged over the answer tokens (end token included)'));
});

test('a fresh adapter starts DPO at log 2 with zero margins; gradients reach the adapters and nothing else', () => {
  const model = LlamaModel.random(cfg, new T.Rng(2));
  applyLora(model, { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear', seed: 1 });
  const step = dpoStepLoss(model, { loss: 'sigmoid', beta: 0.1 }, loraReference(model, false));
  T.tidy(() => {
    const { loss, metrics, tokens } = step({ rows: pairBatch(pairs, 0) });
    assert.ok(Math.abs(loss.item() - Math.log(2)) < 1e-6, `B = 0: policy = reference, loss ${loss.item()}`);
    assert.equal(metrics['rewards/margins'], 0);
    assert.equal(tokens, 4 * 6);
    T.backward(loss);
  });
  // RPO adds the chosen answers' NLL per token: chosen rows 0..1 have 3 and 4 answer tokens.
  const chosen = directLogps(model, pairBatch(pairs, 0)).slice(0, 2);
  const rpo = dpoStepLoss(model, { loss: 'sigmoid', beta: 0.1, rpoAlpha: 0.5 }, loraReference(model, false));
  T.tidy(() => {
    const { loss, metrics } = rpo({ rows: pairBatch(pairs, 0) });
    const nll = -(chosen[0]! + chosen[1]!) / 7;
    assert.ok(Math.abs(metrics.nll_loss! - nll) < 1e-4, `nll ${metrics.nll_loss} vs ${nll}`);
    assert.ok(Math.abs(loss.item() - (Math.log(2) + 0.5 * nll)) < 1e-4);
  });
  const trainable = model.namedTensors().filter(([, t]) => t.requiresGrad);
  assert.ok(trainable.every(([n]) => n.includes('lora_')), 'only adapter weights train');
  assert.ok(trainable.some(([n, t]) => n.includes('lora_B') && t.grad !== null && t.grad.toArray().some((g) => g !== 0)), 'B gets a gradient');
  for (const [, t] of trainable) t.grad?.dispose();
});

test('a run that continues an adapter uses that adapter as its reference, swapped in per call; cached log-probs match it', () => {
  const model = LlamaModel.random(cfg, new T.Rng(3));
  applyLora(model, { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear', seed: 1 });
  const layers = loraLayers(model);
  for (const { layer } of layers) layer.lora_B.weight.f.forEach((_, i, a) => (a[i] = 0.05 * Math.cos(i))); // the "SFT" adapter
  const batch = pairBatch(pairs, 0);
  const start = T.noGrad(() => answerLogps(model, batch).toArray());
  const reference = loraReference(model, true);
  const cached = cachedReferenceLogps(model, [...pairs.map((p) => p.chosen), ...pairs.map((p) => p.rejected)], 0, false);
  cached.forEach((v, i) => assert.ok(Math.abs(v - start[i]!) < 1e-4, `cached row ${i}`));
  for (const { layer } of layers) layer.lora_A.weight.f.forEach((v, i, a) => (a[i] = v + 0.1 * Math.sin(i))); // training moves it
  const trained = layers.map(({ layer }) => Float32Array.from(layer.lora_A.weight.f));
  const now = T.noGrad(() => answerLogps(model, batch).toArray());
  assert.ok(now.some((v, i) => Math.abs(v - start[i]!) > 1e-3), 'the policy moved');
  const ref = reference(() => answerLogps(model, batch).toArray());
  ref.forEach((v, i) => assert.ok(Math.abs(v - start[i]!) < 1e-5, `reference row ${i} is the starting adapter's`));
  layers.forEach(({ layer }, k) => assert.deepEqual(layer.lora_A.weight.f, trained[k], 'the trained weights are back after the call'));
  const step = dpoStepLoss(model, { loss: 'sigmoid', beta: 0.1 }, reference);
  const viaCache = dpoStepLoss(model, { loss: 'sigmoid', beta: 0.1 });
  T.tidy(() => {
    const a = step({ rows: batch }).loss.item();
    const b = viaCache({ rows: batch, ref: cached }).loss.item();
    assert.ok(Math.abs(a - b) < 1e-5, `live reference ${a} vs cached ${b}`);
    assert.ok(Math.abs(a - Math.log(2)) > 1e-4, 'the moved policy is no longer at log 2');
  });
});

test('KTO step: desirable rows first, a fresh adapter costs w·σ(0) per answer with a zero KL point, one-sided batches work', () => {
  const model = LlamaModel.random(cfg, new T.Rng(4));
  applyLora(model, { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear', seed: 1 });
  const ex = (ids: number[], prompt: number) => {
    const t = Int32Array.from(ids);
    return { ids: t, labels: Int32Array.from(t, (id, i) => (i < prompt ? IGNORE_INDEX : id)), truncated: 0 };
  };
  const items = [{ example: ex([1, 5, 9, 3], 2), label: false }, { example: ex([1, 6, 8, 8, 3], 2), label: true }, { example: ex([1, 7, 4], 2), label: false }];
  const twins = [{ example: ex([1, 5, 8, 8, 3], 2), label: false }, { example: ex([1, 6, 4], 2), label: true }, { example: ex([1, 7, 9, 3], 2), label: false }];
  const b = feedbackBatch(items, twins, [0, 1, 2], 0);
  assert.equal(b.desirable, 1);
  assert.deepEqual([...b.rows.ids.subarray(0, 5)], [1, 6, 8, 8, 3], 'the thumbs-up answer is row 0');
  assert.deepEqual([...b.mismatched.ids.subarray(0, 3)], [1, 6, 4], 'each twin stays beside its answer');
  const step = ktoStepLoss(model, { beta: 0.1, desirableWeight: 2, undesirableWeight: 1 }, loraReference(model, false));
  T.tidy(() => {
    const { loss, metrics } = step(b);
    assert.ok(Math.abs(loss.item() - (2 * 0.5 + 1 * 0.5 + 1 * 0.5) / 3) < 1e-6, `loss ${loss.item()}`);
    assert.equal(metrics.kl, 0);
    T.backward(loss);
  });
  const grads = model.namedTensors().filter(([, t]) => t.grad !== null);
  assert.ok(grads.length > 0 && grads.every(([n]) => n.includes('lora_')), 'only adapter weights get gradients');
  for (const [, t] of grads) t.grad!.dispose(), (t.grad = null);
  T.tidy(() => {
    const { loss } = step(feedbackBatch(items, twins, [0, 2], 0)); // thumbs down only
    assert.ok(Math.abs(loss.item() - 0.5) < 1e-6);
  });
});
