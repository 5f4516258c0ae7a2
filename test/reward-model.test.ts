// The reward model's pieces on a tiny Llama: the reward is read at each row's last real token (padding after it
// changes nothing) with gradients checked by finite differences; a ranking's answers are scored once and its pairs
// stay in one batch; the PEFT SEQ_CLS adapter (LoRA + score head) round-trips, and malformed ones are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as T from '../src/tensor/index.ts';
import { configFromHf, configToHf } from '../src/model/config.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { applyLora, loraLayers } from '../src/adapters/apply.ts';
import { adapterTaskType, loadAdapter, saveAdapter } from '../src/adapters/peft.ts';
import { readSafetensors, writeSafetensors } from '../src/formats/safetensors.ts';
import { padBatch } from '../src/data/batch.ts';
import { IGNORE_INDEX } from '../src/tensor/ops/loss.ts';
import type { TokenizedPair } from '../src/data/preference-tokenize.ts';
import { rewardBatch, scoreExamples } from '../src/eval/reward.ts';
import { rewardBatchSource } from '../src/recipes/reward-steps.ts';
import { gradcheck, leaf } from './helpers/gradcheck.ts';

const HF = { model_type: 'llama', hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, vocab_size: 23, max_position_embeddings: 64 };
const cfg = () => configFromHf(HF);

function example(ids: number[], prompt: number) {
  const t = Int32Array.from(ids);
  return { ids: t, labels: Int32Array.from(t, (id, i) => (i < prompt ? IGNORE_INDEX : id)), truncated: 0 };
}

test('rewards: read at the last real token; padding after it changes nothing; gradients match finite differences', () => {
  const model = LlamaModel.random(cfg(), new T.Rng(1));
  model.attachScoreHead(new T.Rng(2), 0.5);
  assert.equal(model.lm_head, undefined, 'the LM head is gone');
  assert.throws(() => model.headWeight(), /reward model/);
  const a = example([1, 4, 5, 6, 2], 2);
  const b = example([1, 7, 2], 1);
  const alone = scoreExamples(model, [b], 0);
  const padded = scoreExamples(model, [a, b], 0); // b padded to 5 tokens
  assert.ok(Math.abs(alone[0]! - padded[1]!) < 1e-5, `padding changed the reward: ${alone[0]} vs ${padded[1]}`);
  assert.notEqual(padded[0], padded[1]);
  const repadded = scoreExamples(model, [a, b], 9); // another pad id
  assert.ok(Math.abs(repadded[1]! - padded[1]!) < 1e-5, 'the pad id is never searched for');

  // d reward / d (hidden, score weight): hidden states (B, T, D) as a leaf, the head in float64.
  const rng = new T.Rng(3);
  const hidden = leaf([2, 3, 16], rng);
  const head = leaf([1, 16], rng);
  model.score!.weight = head;
  gradcheck(([h]) => model.rewards(h!, Int32Array.from([2, 0])), [hidden, head]);
});

test('a ranking of three answers: three pairs from three scored rows, kept in one batch', () => {
  const prompt = [1, 3, 4];
  const answers = [[5, 2], [6, 6, 2], [7, 2]].map((ans) => example([...prompt, ...ans], prompt.length));
  const ranking: TokenizedPair[] = [[0, 1], [0, 2], [1, 2]].map(([c, r]) => ({ chosen: answers[c!]!, rejected: answers[r!]!, promptTokens: 3, group: 7 }));
  const single: TokenizedPair = { chosen: example([1, 8, 9, 2], 2), rejected: example([1, 8, 10, 2], 2), promptTokens: 2, margin: 1.5 };
  const b = rewardBatch([...ranking, single], 0);
  assert.equal(b.rows.batch, 5, 'three distinct ranked answers and the two of the single pair');
  // Rows in order of first use: chosen answers first (ranked 0, ranked 1, single), then the new rejected ones.
  assert.deepEqual([...b.chosen], [0, 0, 1, 2]);
  assert.deepEqual([...b.rejected], [1, 3, 3, 4]);
  assert.deepEqual([...b.last], [4, 5, 3, 4, 3]);
  assert.deepEqual([...b.margins!], [0, 0, 0, 1.5]);
  const source = rewardBatchSource([single, ...ranking, { ...single, group: undefined, margin: undefined }], { batchSize: 1, seed: 0 }, 0);
  const sizes = [source.next(), source.next(), source.next()].map((x) => x.chosen.length).sort();
  assert.deepEqual(sizes, [1, 1, 3], 'batch size counts units: a ranking is one');
});

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-rm-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A reward model with a trained-looking LoRA adapter and head. */
function trainedRewardModel(seed: number): LlamaModel {
  const model = LlamaModel.random(cfg(), new T.Rng(seed));
  model.attachScoreHead(new T.Rng(seed + 1));
  applyLora(model, { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear', seed: 1 });
  for (const { layer } of loraLayers(model)) layer.lora_B.weight.f.forEach((_, i, a) => (a[i] = 0.05 * Math.sin(i + seed)));
  return model;
}

test('a reward model adapter is PEFT SEQ_CLS with the score head in modules_to_save; it loads back to the same rewards', () => {
  withDir((dir) => {
    const model = trainedRewardModel(5);
    assert.ok(!loraLayers(model).some(({ path }) => path === 'score'), 'all-linear leaves the score head out of LoRA');
    const rows = [example([1, 4, 5, 2], 2), example([1, 6, 2], 1)];
    const want = scoreExamples(model, rows, 0);
    const dir1 = path.join(dir, 'rm');
    saveAdapter(dir1, model, { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear', seed: 1 }, 'tiny');
    const config = JSON.parse(readFileSync(path.join(dir1, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config.task_type, 'SEQ_CLS');
    assert.deepEqual(config.modules_to_save, ['score']);
    assert.equal(adapterTaskType(dir1), 'SEQ_CLS');

    const fresh = LlamaModel.random(cfg(), new T.Rng(5)); // the same base, a different head until the adapter loads
    fresh.attachScoreHead(new T.Rng(99));
    const loaded = loadAdapter(dir1, fresh);
    assert.equal(loaded.taskType, 'SEQ_CLS');
    assert.ok(fresh.score!.weight.requiresGrad, 'the head trains on when continued');
    const got = scoreExamples(fresh, rows, 0);
    got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-6, `row ${i}: ${v} vs ${want[i]}`));

    // The head under the key older PEFT versions wrote (modules_to_save.default) loads the same.
    const weights = readSafetensors(path.join(dir1, 'adapter_model.safetensors')).tensors;
    const head = weights.get('base_model.model.score.weight')!;
    weights.delete('base_model.model.score.weight');
    weights.set('base_model.model.score.modules_to_save.default.weight', head);
    const dir2 = path.join(dir, 'old');
    saveAdapter(dir2, model, { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear', seed: 1 }, 'tiny');
    writeSafetensors(path.join(dir2, 'adapter_model.safetensors'), weights, { format: 'pt' });
    const other = LlamaModel.random(cfg(), new T.Rng(5));
    other.attachScoreHead(new T.Rng(98));
    loadAdapter(dir2, other);
    assert.deepEqual(other.score!.weight.f, fresh.score!.weight.f);

    // Refusals: onto a model without a head; a config naming the head without its tensor.
    assert.throws(() => loadAdapter(dir1, LlamaModel.random(cfg(), new T.Rng(5))), /needs a model with a score head/);
    weights.delete('base_model.model.score.modules_to_save.default.weight');
    writeSafetensors(path.join(dir2, 'adapter_model.safetensors'), weights, { format: 'pt' });
    const third = LlamaModel.random(cfg(), new T.Rng(5));
    third.attachScoreHead(new T.Rng(1));
    assert.throws(() => loadAdapter(dir2, third), /modules_to_save lists 'score' but the file has no/);
    const cfgPath = path.join(dir2, 'adapter_config.json');
    writeFileSync(cfgPath, JSON.stringify({ ...config, modules_to_save: ['classifier_head'] }));
    assert.throws(() => loadAdapter(dir2, third), /modules_to_save \["classifier_head"\] is not supported/);
  });
});

test('config.json of a sequence classifier: one label reads as a reward model and writes back; more labels are refused', () => {
  const rm = configFromHf({ ...HF, architectures: ['LlamaForSequenceClassification'], num_labels: 1, pad_token_id: 0 });
  assert.equal(rm.numLabels, 1);
  const json = configToHf(rm);
  assert.deepEqual(json.architectures, ['LlamaForSequenceClassification']);
  assert.equal(json.num_labels, 1);
  assert.equal(json.pad_token_id, 0);
  assert.equal(configFromHf(HF).numLabels, undefined);
  assert.throws(() => configFromHf({ ...HF, architectures: ['LlamaForSequenceClassification'], id2label: { 0: 'a', 1: 'b' } }), /2 labels is not supported/);
  const model = new LlamaModel(rm, (name, shape) => (name === 'lm_head.weight' ? undefined : T.keep(T.randn(shape, new T.Rng(1), 0.1))));
  assert.deepEqual(model.score!.weight.shape, [1, 16]);
  const r = T.noGrad(() => model.rewards(model.forward(padBatch([example([1, 2, 3], 1)], 0).ids, 1), Int32Array.from([2])).toArray());
  assert.equal(r.length, 1);
});
