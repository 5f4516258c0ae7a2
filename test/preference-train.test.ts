// Preference training on the real stories260K model, end to end through the CLI: a reward model learns a house
// style (≥ 0.90 holdout accuracy) and is saved as PEFT SEQ_CLS or an HF sequence classifier that `whet score`
// reads; it trains on HH-RLHF with its accuracy reported; DPO and KTO move an SFT adapter's greedy answers to the
// preferred style where SFT's were not, with rewards/margins rising.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readSafetensors } from '../src/formats/safetensors.ts';
import { readSafetensorsFolder } from '../src/formats/safetensors-sharded.ts';
import { sharedPath, sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';
// @ts-expect-error: the README's plain-JavaScript example script, without type declarations
import * as houseStyle from '../examples/house-style.mjs';

const { HOUSE, writeHouseStyle } = houseStyle as { HOUSE: RegExp; writeHouseStyle: (dir: string) => Record<string, string> };

const env = { ...process.env, WHET_NO_PROGRESS: '1' };
function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['bin/whet.js', ...args], { env, encoding: 'utf8' });
}
function whet(...args: string[]): string {
  const r = run(...args);
  assert.equal(r.status, 0, `whet ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-pref-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Summary {
  output: string;
  holdout_metrics_before?: Record<string, number>;
  holdout_metrics_after?: Record<string, number>;
}

test('reward model (LoRA): the house style is learned to ≥ 0.90 holdout accuracy; a PEFT SEQ_CLS adapter that whet score reads', { skip: sharedSkip, timeout: 120_000 }, () => {
  withDir((dir) => {
    const { 'rm.jsonl': data, 'rm-holdout.jsonl': held } = writeHouseStyle(dir);
    const out = path.join(dir, 'rm');
    const s = JSON.parse(whet('train', '--method', 'reward', '--model', STORIES_GGUF, '--data', data, '--holdout', held, '--out', out, '--steps', '40', '--lr', '3e-3', '--batch-size', '8', '--eval-every', '20', '--json')) as Summary;
    const after = s.holdout_metrics_after!;
    process.stdout.write(`result: reward model on the house-style set: holdout accuracy ${s.holdout_metrics_before!.accuracy!.toFixed(3)} → ${after.accuracy!.toFixed(3)} (32 pairs), margin ${after.margin!.toFixed(2)}\n`);
    assert.ok(after.accuracy! >= 0.9, `holdout accuracy ${after.accuracy}`);
    assert.ok(s.holdout_metrics_before!.accuracy! < 0.9, 'the untrained head does not already know the style');

    const config = JSON.parse(readFileSync(path.join(s.output, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config.task_type, 'SEQ_CLS');
    assert.deepEqual(config.modules_to_save, ['score']);
    const weights = readSafetensors(path.join(s.output, 'adapter_model.safetensors')).tensors;
    assert.deepEqual(weights.get('base_model.model.score.weight')?.shape, [1, 64]);
    assert.ok([...weights.keys()].some((k) => k.endsWith('.lora_A.weight')));

    // whet score reads the adapter back: its rows give the same accuracy as the run's holdout.
    const rows = whet('score', '--model', STORIES_GGUF, '--adapter', s.output, '--data', held, '--json').trim().split('\n').map((l) => JSON.parse(l) as { chosen: number; rejected: number });
    assert.equal(rows.length, 32);
    const right = rows.filter((r) => r.chosen > r.rejected).length;
    assert.equal(right / rows.length, after.accuracy);
    // A generation adapter is not a reward model: a clear error, not a stack trace.
    const bad = run('score', '--model', STORIES_GGUF, '--data', held);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /not a reward model/);
  });
});

test('reward model (full): an HF LlamaForSequenceClassification folder with score.weight and no LM head; it scores, and refuses to generate', { skip: sharedSkip, timeout: 120_000 }, () => {
  withDir((dir) => {
    const { 'rm.jsonl': data } = writeHouseStyle(dir);
    const out = path.join(dir, 'rm');
    const s = JSON.parse(whet('train', '--method', 'reward', '--finetuning', 'full', '--model', STORIES_GGUF, '--data', data, '--out', out, '--steps', '30', '--lr', '1e-3', '--batch-size', '8', '--holdout-fraction', '0.2', '--eval-every', '0', '--json')) as Summary;
    const config = JSON.parse(readFileSync(path.join(s.output, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(config.architectures, ['LlamaForSequenceClassification']);
    assert.equal(config.num_labels, 1);
    assert.equal(typeof config.pad_token_id, 'number');
    const tensors = readSafetensorsFolder(s.output).tensors;
    assert.deepEqual(tensors.get('score.weight')?.shape, [1, 64]);
    assert.equal(tensors.has('lm_head.weight'), false);
    const scored = whet('score', '--model', s.output, '--data', data, '--json').trim().split('\n').map((l) => JSON.parse(l) as { chosen: number; rejected: number });
    assert.equal(scored.length, 100);
    assert.ok(scored.filter((r) => r.chosen > r.rejected).length >= 90, 'the saved folder scores as the trained model did');
    const gen = run('generate', '--model', s.output, '--prompt', 'Once', '--max-tokens', '3');
    assert.equal(gen.status, 1);
    assert.match(gen.stderr, /reward model/);
  });
});

test('reward model on Anthropic HH-RLHF (harmless-base test, seeded 10% holdout): trains, and its holdout accuracy is reported', { skip: sharedSkip, timeout: 300_000 }, () => {
  withDir((dir) => {
    const r = run('train', '--method', 'reward', '--model', STORIES_GGUF, '--data', sharedPath('preference/hh-rlhf_harmless-base_test.jsonl.gz'), '--holdout-fraction', '0.1', '--max-length', '512',
      '--out', path.join(dir, 'hh'), '--steps', '60', '--batch-size', '8', '--lr', '1e-3', '--eval-every', '0', '--json');
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Summary & { train_examples: number; holdout_examples: number };
    const [before, after] = [s.holdout_metrics_before!.accuracy!, s.holdout_metrics_after!.accuracy!];
    process.stdout.write(`result: HH-RLHF harmless-base reward model (stories260K, LoRA, 60 steps): holdout accuracy ${before.toFixed(3)} → ${after.toFixed(3)} on ${s.holdout_examples} pairs (${s.train_examples} trained on)\n`);
    assert.match(r.stderr, /rows left out as invalid/, 'the rows that are not pairs are reported');
    assert.ok(s.holdout_examples > 100 && s.train_examples > 1000);
    assert.ok(after >= 0 && after <= 1);
  });
});

/** An SFT adapter whose answers are mostly plain (a quarter of its data is in the house style). */
function sftAdapter(dir: string, data: string): string {
  whet('train', '--model', STORIES_GGUF, '--data', data, '--out', path.join(dir, 'sft'), '--steps', '200', '--lr', '1e-2', '--batch-size', '16', '--dropout', '0', '--eval-every', '0');
  return path.join(dir, 'sft', 'adapter');
}

/** Greedy answers to the holdout prompts, as predictions. */
function greedy(dir: string, prompts: string, adapter: string, name: string): string[] {
  const saved = path.join(dir, `${name}.jsonl`);
  whet('eval', '--model', STORIES_GGUF, '--adapter', adapter, '--data', prompts, '--metric', 'exact', '--max-tokens', '16', '--save-predictions', saved, '--json');
  return readFileSync(saved, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { prediction: string }).prediction);
}

/** Mean of a metric over the first and the last n steps of a run. */
function firstLast(runDir: string, key: string, n = 8): [number, number] {
  const lines = readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  const avg = (xs: Record<string, number>[]) => xs.reduce((a, x) => a + x[key]!, 0) / xs.length;
  return [avg(lines.slice(0, n)), avg(lines.slice(-n))];
}

test('DPO (with RPO) and KTO from an SFT adapter: greedy holdout answers take the preferred style where the SFT model did not', { skip: sharedSkip, timeout: 300_000 }, () => {
  withDir((dir) => {
    const files = writeHouseStyle(dir);
    const sft = sftAdapter(dir, files['sft.jsonl']!);
    const sftStyled = greedy(dir, files['prompts.jsonl']!, sft, 'sft').map((p) => HOUSE.test(p));
    const notYet = sftStyled.map((ok, i) => (ok ? -1 : i)).filter((i) => i >= 0);
    assert.ok(notYet.length >= 10, `the SFT model answers mostly plain (${notYet.length} of 32 not in the house style)`);
    for (const [method, data, extra] of [['dpo', files['pairs.jsonl']!, ['--rpo-alpha', '1']], ['kto', files['thumbs.jsonl']!, []]] as const) {
      const out = path.join(dir, method);
      whet('train', '--method', method, '--model', STORIES_GGUF, '--adapter', sft, '--data', data, '--out', out, '--steps', '40', '--lr', '1e-3', '--batch-size', '8', '--holdout-fraction', '0', ...extra);
      const styled = greedy(dir, files['prompts.jsonl']!, path.join(out, 'adapter'), method).map((p) => HOUSE.test(p));
      const moved = notYet.filter((i) => styled[i]).length;
      const [first, last] = firstLast(out, 'rewards/margins');
      process.stdout.write(`result: ${method} from the SFT adapter: house style in ${moved} of ${notYet.length} holdout answers the SFT model gave plain (all: ${styled.filter(Boolean).length}/32); rewards/margins ${first.toFixed(3)} → ${last.toFixed(3)}\n`);
      assert.ok(moved / notYet.length > 0.6, `${method}: ${moved} of ${notYet.length}`);
      assert.ok(last > first + 0.1, `${method}: rewards/margins ${first} → ${last}`);
    }
  });
});
