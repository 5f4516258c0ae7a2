// The training configuration: YAML and flags merged over defaults, each value checked with a clear message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveTrainConfig, TRAIN_DEFAULTS } from '../src/recipes/train-config.ts';

function withYaml(text: string, fn: (file: string) => void): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-cfg-'));
  try {
    const file = path.join(dir, 'run.yaml');
    writeFileSync(file, text);
    fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('defaults, then the file, then flags (which win)', () => {
  withYaml('model: m.gguf\ndata: d.jsonl\nout: runs/x\nsteps: 50\nlr: 1.0e-3\ntarget_modules: [q_proj, v_proj]\npacking: true\n', (file) => {
    const cfg = resolveTrainConfig(file, { steps: '70', method: 'full' });
    assert.equal(cfg.steps, 70);
    assert.equal(cfg.lr, 1e-3);
    assert.equal(cfg.method, 'sft', 'method: full is SFT with full finetuning');
    assert.equal(cfg.finetuning, 'full');
    assert.deepEqual(cfg.target_modules, ['q_proj', 'v_proj']);
    assert.equal(cfg.packing, true);
    assert.equal(cfg.rank, TRAIN_DEFAULTS.rank);
  });
  assert.deepEqual(resolveTrainConfig(undefined, { model: 'm', data: 'd', out: 'o', target_modules: 'q_proj,k_proj' }).target_modules, ['q_proj', 'k_proj']);
  const dpo = resolveTrainConfig(undefined, { model: 'm', data: 'd', out: 'o', method: 'dpo', finetuning: 'full', beta: '0.3', loss_type: 'ipo' });
  assert.deepEqual([dpo.method, dpo.finetuning, dpo.beta, dpo.loss_type, dpo.label_smoothing], ['dpo', 'full', 0.3, 'ipo', 0]);
  assert.equal(resolveTrainConfig(undefined, { model: 'm', data: 'd', out: 'o' }).method, 'sft');
});

test('bad values, unknown keys and missing required options are named', () => {
  withYaml('model: m\ndata: d\nout: o\nsteps: 0\n', (file) => assert.throws(() => resolveTrainConfig(file, {}), /run\.yaml: 'steps' must be at least 1 \(got 0\)/));
  withYaml('model: m\ndata: d\nout: o\nlearning_rate: 1\n', (file) => assert.throws(() => resolveTrainConfig(file, {}), /unknown option 'learning_rate'/));
  withYaml('model: m\ndata: d\nout: o\nmethod: qlora\n', (file) => assert.throws(() => resolveTrainConfig(file, {}), /'method' must be one of sft, reward, dpo, kto, rl, pretrain, lora, full/));
  withYaml('- a\n- b\n', (file) => assert.throws(() => resolveTrainConfig(file, {}), /expected a mapping/));
  withYaml('model: [unclosed\n', (file) => assert.throws(() => resolveTrainConfig(file, {}), /run\.yaml:/));
  assert.throws(() => resolveTrainConfig(undefined, { model: 'm', data: 'd' }), /'out' is required/);
  assert.throws(() => resolveTrainConfig(undefined, { model: 'm', data: 'd', out: 'o', rank: '2.5' }), /--rank: 'rank' must be an integer/);
  assert.throws(() => resolveTrainConfig(undefined, { model: 'm', data: 'd', out: 'o', dropout: '1' }), /'dropout' must be at most 0.99/);
  assert.throws(() => resolveTrainConfig(undefined, { model: 'm', data: 'd', out: 'o', loss_type: 'orpo' }), /'loss_type' must be one of sigmoid, robust, hinge, ipo, simpo, grpo/);
  assert.throws(() => resolveTrainConfig(undefined, { model: 'm', data: 'd', out: 'o', method: 'dpo', loss_type: 'dr_grpo' }), /'loss_type' dr_grpo does not apply to method dpo \(one of sigmoid/);
  assert.throws(() => resolveTrainConfig(undefined, { model: 'm', data: 'd', out: 'o', method: 'rl' }), /method rl needs something to maximise/);
  const rl = resolveTrainConfig(undefined, { model: 'm', data: 'd', out: 'o', method: 'rl', reward_fn: ['exact', 'regex:^\\d+$@0.5'], loss_type: 'dr_grpo' });
  assert.deepEqual([rl.reward_fn, rl.loss_type, rl.num_generations], [['exact', 'regex:^\\d+$@0.5'], 'dr_grpo', 4]);
  assert.throws(() => resolveTrainConfig(undefined, { model: 'm', data: 'd', out: 'o', label_smoothing: '0.7' }), /'label_smoothing' must be at most 0.5/);
});
