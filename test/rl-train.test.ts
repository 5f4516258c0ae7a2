// RL on the real stories260K model through the CLI: GRPO with a programmatic reward (the house style, a regular
// expression) raises the held-out prompts' mean reward over the SFT policy it starts from with a bounded KL, and the
// report draws the curve; RLHF against a reward model trained on one half of the preference data raises that model's
// score on held-out prompts, and a reward model trained on the other half confirms the gain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';
// @ts-expect-error: the README's plain-JavaScript example script, without type declarations
import * as houseStyle from '../examples/house-style.mjs';

const { writeHouseStyle } = houseStyle as { writeHouseStyle: (dir: string) => Record<string, string> };
const HOUSE_RE = String.raw`regex:^ ?[A-Z]\d\d \+ [A-Z]\d\d\.`;
const env = { ...process.env, WHET_NO_PROGRESS: '1' };
function whet(...args: string[]): string {
  const r = spawnSync(process.execPath, ['bin/whet.js', ...args], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, `whet ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

interface Summary {
  output: string;
  holdout_metrics_before: Record<string, number>;
  holdout_metrics_after: Record<string, number>;
}

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-rl-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function sft(dir: string, data: string): string {
  whet('train', '--model', STORIES_GGUF, '--data', data, '--out', path.join(dir, 'sft'), '--steps', '200', '--lr', '1e-2', '--batch-size', '16', '--dropout', '0', '--eval-every', '0');
  return path.join(dir, 'sft', 'adapter');
}

const RL = ['--method', 'rl', '--model', STORIES_GGUF, '--lr', '1e-3', '--batch-size', '4', '--num-generations', '8', '--max-completion-length', '16', '--beta', '0.04', '--eval-every', '10'];

test('GRPO with a format reward raises the held-out mean reward over the SFT policy, the KL stays bounded, and the report draws both', { skip: sharedSkip, timeout: 300_000 }, () => {
  withDir((dir) => {
    const files = writeHouseStyle(dir);
    const adapter = sft(dir, files['sft.jsonl']!);
    const out = path.join(dir, 'grpo');
    const s = JSON.parse(whet('train', ...RL, '--adapter', adapter, '--data', files['sft.jsonl']!, '--holdout', files['prompts.jsonl']!, '--reward-fn', HOUSE_RE, '--out', out, '--steps', '30', '--json')) as Summary;
    const [before, after] = [s.holdout_metrics_before.reward!, s.holdout_metrics_after.reward!];
    const lines = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    const kl = Math.max(...lines.map((l) => l.kl!));
    process.stdout.write(`result: GRPO (format reward) from the SFT adapter: held-out mean reward ${before.toFixed(3)} → ${after.toFixed(3)} on 32 prompts; largest KL per token ${kl.toFixed(3)}\n`);
    assert.ok(before < 0.6, `the SFT policy is only partly right: ${before}`);
    assert.ok(after >= before + 0.3, `${before} → ${after}`);
    assert.ok(kl < 2, `KL bounded: ${kl}`);
    for (const key of ['reward', 'reward_std', 'clip_ratio/region_mean', 'completion_length/mean', 'clipped_ratio', 'time/generation_s', 'frac_reward_zero_std']) assert.ok(key in lines[0]!, key);
    assert.ok(readFileSync(path.join(out, 'samples.jsonl'), 'utf8').includes('"completion"'), 'sample completions are written');
    whet('eval', '--model', STORIES_GGUF, '--adapter', s.output, '--data', files['prompts.jsonl']!, '--metric', 'exact', '--max-tokens', '4', '--report', out);
    const html = readFileSync(path.join(out, 'report.html'), 'utf8');
    assert.match(html, /holdout reward \(greedy\)/);
    assert.match(html, /KL to the reference/);

    // RLOO (leave-one-out baseline) and PPO (value head, GAE; two optimisation steps a batch) move it as well.
    for (const algorithm of ['rloo', 'ppo']) {
      const r = JSON.parse(whet('train', ...RL, '--rl-algorithm', algorithm, '--num-iterations', '2', '--adapter', adapter, '--data', files['sft.jsonl']!, '--holdout', files['prompts.jsonl']!,
        '--reward-fn', HOUSE_RE, '--out', path.join(dir, algorithm), '--steps', '40', '--json')) as Summary;
      process.stdout.write(`result: ${algorithm} (format reward): held-out mean reward ${r.holdout_metrics_before.reward!.toFixed(3)} → ${r.holdout_metrics_after.reward!.toFixed(3)}\n`);
      assert.ok(r.holdout_metrics_after.reward! >= r.holdout_metrics_before.reward! + 0.3, algorithm);
    }
  });
});

test('RLHF against a reward model trained on half the pairs raises its held-out score; one trained on the other half agrees', { skip: sharedSkip, timeout: 300_000 }, () => {
  withDir((dir) => {
    const files = writeHouseStyle(dir);
    const pairs = readFileSync(files['rm.jsonl']!, 'utf8').trim().split('\n');
    writeFileSync(path.join(dir, 'half-a.jsonl'), pairs.slice(0, 50).join('\n') + '\n');
    writeFileSync(path.join(dir, 'half-b.jsonl'), pairs.slice(50).join('\n') + '\n');
    const rm = (half: string) => {
      whet('train', '--method', 'reward', '--model', STORIES_GGUF, '--data', path.join(dir, `half-${half}.jsonl`), '--out', path.join(dir, `rm-${half}`), '--steps', '40', '--lr', '3e-3', '--batch-size', '8', '--holdout-fraction', '0', '--eval-every', '0');
      return path.join(dir, `rm-${half}`, 'adapter');
    };
    const [rmA, rmB] = [rm('a'), rm('b')];
    const adapter = sft(dir, files['sft.jsonl']!);
    const out = path.join(dir, 'rlhf');
    const s = JSON.parse(whet('train', ...RL, '--adapter', adapter, '--data', files['sft.jsonl']!, '--holdout', files['prompts.jsonl']!, '--reward-model', STORIES_GGUF, '--reward-adapter', rmA, '--out', out, '--steps', '30', '--json')) as Summary;
    const [before, after] = [s.holdout_metrics_before.reward!, s.holdout_metrics_after.reward!];
    const judged = JSON.parse(whet('eval', '--metric', 'win-rate', '--model', STORIES_GGUF, '--adapter', s.output, '--base-adapter', adapter, '--reward-model', STORIES_GGUF, '--reward-adapter', rmB,
      '--data', files['prompts.jsonl']!, '--max-tokens', '16', '--json')) as { score: number; reward: number; base_reward: number; wins: number; losses: number };
    process.stdout.write(`result: RLHF against the reward model of half A: its held-out mean score ${before.toFixed(3)} → ${after.toFixed(3)}; judged by the reward model of half B: win rate ${judged.score.toFixed(3)} (${judged.wins} wins, ${judged.losses} losses), mean reward ${judged.base_reward.toFixed(3)} → ${judged.reward.toFixed(3)}\n`);
    assert.ok(after > before + 0.5, `${before} → ${after}`);
    assert.ok(judged.reward > judged.base_reward, 'the other half\'s reward model scores the RL policy higher');
    assert.ok(judged.score > 0.5);
  });
});
