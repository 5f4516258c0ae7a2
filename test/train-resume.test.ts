// A training run (SFT, DPO or GRPO, full or LoRA) killed with SIGKILL and resumed ends with the same weights as one never
// interrupted; Ctrl-C (SIGINT) saves a checkpoint and exits cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readSafetensorsFolder } from '../src/formats/safetensors-sharded.ts';
import { readSafetensors } from '../src/formats/safetensors.ts';
import { sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';

const env = { ...process.env, WHET_NO_PROGRESS: '1' };

const WORDS = ['red', 'blue', 'green', 'cat', 'dog', 'sun', 'tree', 'ball', 'bird', 'fish'];

/** SFT rows, or (preference) pairs preferring the joined words with an exclamation mark. */
function dataset(dir: string, preference = false): string {
  const rows = WORDS.flatMap((a, i) => WORDS.map((b, j) => {
    const p = `Join ${a} and ${b}:`;
    return JSON.stringify(preference ? { prompt: p, chosen: ` ${a}-${b}!`, rejected: ` ${a}-${b}` } : { prompt: p, completion: ` ${a}-${b}${(i + j) % 3 === 0 ? '!' : ''}` });
  }));
  const file = path.join(dir, preference ? 'pairs.jsonl' : 'data.jsonl');
  writeFileSync(file, rows.join('\n') + '\n');
  return file;
}

/** Steps of a run: preference and RL runs are shorter (each step does more). */
const stepsOf = (method: string): number => (method.startsWith('dpo-') ? 60 : method.startsWith('rl-') ? 24 : 120);

/** A run's arguments: method is sft (with finetuning full or lora), dpo-full / dpo-lora, or rl-lora (GRPO, two iterations a batch). */
function args(data: string, out: string, method: string): string[] {
  const [objective, finetuning] = method.includes('-') ? (method.split('-') as [string, string]) : ['sft', method];
  const extra = {
    sft: [],
    dpo: ['--rpo-alpha', '0.5'],
    rl: ['--reward-fn', 'regex:-', '--reward-fn', 'regex:!@0.5', '--num-generations', '4', '--max-completion-length', '8', '--num-iterations', '2', '--beta', '0.04', '--temperature', '1.2'],
  }[objective]!;
  const dpo = [...extra, '--steps', String(stepsOf(method))];
  return ['bin/whet.js', 'train', '--method', objective, '--finetuning', finetuning, '--model', STORIES_GGUF, '--data', data, '--out', out, '--save-every', objective === 'rl' ? '5' : '10',
    '--lr', '3e-3', '--batch-size', '8', '--eval-every', '40', '--dropout', '0.1', '--rank', '4', '--seed', '3', ...dpo];
}

/** Starts a run, kills it with `signal` once its metrics pass `afterStep`, and returns its exit status. */
async function interrupt(argv: string[], out: string, afterStep: number, signal: NodeJS.Signals): Promise<number | null> {
  const child = spawn(process.execPath, argv, { env, stdio: 'ignore' });
  const metrics = path.join(out, 'metrics.jsonl');
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const lines = existsSync(metrics) ? readFileSync(metrics, 'utf8').trim().split('\n').filter((l) => l !== '') : [];
    if (lines.length >= afterStep) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill(signal);
  return await new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

function maxDiff(a: Map<string, { data: unknown }>, b: Map<string, { data: unknown }>): number {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  let m = 0;
  for (const [name, t] of a) {
    const x = t.data as Float32Array;
    const u = b.get(name)!.data as Float32Array;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - u[i]!));
  }
  return m;
}

for (const method of ['full', 'lora', 'dpo-lora', 'dpo-full', 'rl-lora']) {
  test(`${method}: a run killed with SIGKILL and resumed ends with the same weights as an uninterrupted one`, { skip: sharedSkip, timeout: 300_000 }, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'whet-resume-'));
    const steps = stepsOf(method);
    try {
      const data = dataset(dir, method.startsWith('dpo-'));
      const straight = path.join(dir, 'straight');
      const r = spawnSync(process.execPath, args(data, straight, method), { env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const killed = path.join(dir, 'killed');
      // RL checkpoints every 5 steps, two steps a batch: killed past step 7 it resumes from step 5, inside a batch.
      await interrupt(args(data, killed, method), killed, method.startsWith('rl-') ? 7 : 25, 'SIGKILL');
      const lines = readFileSync(path.join(killed, 'metrics.jsonl'), 'utf8').trim().split('\n');
      assert.ok(lines.length < steps, 'the run should have been killed before finishing');
      const resumed = spawnSync(process.execPath, [...args(data, killed, method), '--resume'], { env, encoding: 'utf8' });
      assert.equal(resumed.status, 0, resumed.stderr);
      const load = (d: string) =>
        method.endsWith('full') ? readSafetensorsFolder(path.join(d, 'model')).tensors : readSafetensors(path.join(d, 'adapter', 'adapter_model.safetensors')).tensors;
      const diff = maxDiff(load(straight), load(killed));
      assert.ok(diff <= 1e-5, `max abs difference ${diff}`);
      const done = readFileSync(path.join(killed, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step);
      assert.deepEqual(done, Array.from({ length: steps }, (_, i) => i + 1));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('Ctrl-C saves a checkpoint, exits cleanly, and --resume continues from it', { skip: sharedSkip, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-sigint-'));
  try {
    const data = dataset(dir);
    const out = path.join(dir, 'run');
    const code = await interrupt(args(data, out, 'lora'), out, 15, 'SIGINT');
    assert.equal(code, 130);
    const done = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length;
    assert.ok(existsSync(path.join(out, `checkpoint-${String(done).padStart(7, '0')}`)), `a checkpoint at step ${done}`);
    const again = spawnSync(process.execPath, args(data, out, 'lora'), { env, encoding: 'utf8' });
    assert.notEqual(again.status, 0, 'starting over a run folder without --resume is refused');
    assert.match(again.stderr, /--resume/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
