// The training configuration: YAML and flags merged over defaults, each value checked with a clear message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveSftConfig, SFT_DEFAULTS } from '../src/recipes/sft-config.ts';

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
    const cfg = resolveSftConfig(file, { steps: '70', method: 'full' });
    assert.equal(cfg.steps, 70);
    assert.equal(cfg.lr, 1e-3);
    assert.equal(cfg.method, 'full');
    assert.deepEqual(cfg.target_modules, ['q_proj', 'v_proj']);
    assert.equal(cfg.packing, true);
    assert.equal(cfg.rank, SFT_DEFAULTS.rank);
  });
  assert.deepEqual(resolveSftConfig(undefined, { model: 'm', data: 'd', out: 'o', target_modules: 'q_proj,k_proj' }).target_modules, ['q_proj', 'k_proj']);
});

test('bad values, unknown keys and missing required options are named', () => {
  withYaml('model: m\ndata: d\nout: o\nsteps: 0\n', (file) => assert.throws(() => resolveSftConfig(file, {}), /run\.yaml: 'steps' must be at least 1 \(got 0\)/));
  withYaml('model: m\ndata: d\nout: o\nlearning_rate: 1\n', (file) => assert.throws(() => resolveSftConfig(file, {}), /unknown option 'learning_rate'/));
  withYaml('model: m\ndata: d\nout: o\nmethod: qlora\n', (file) => assert.throws(() => resolveSftConfig(file, {}), /'method' must be one of lora, full/));
  withYaml('- a\n- b\n', (file) => assert.throws(() => resolveSftConfig(file, {}), /expected a mapping/));
  withYaml('model: [unclosed\n', (file) => assert.throws(() => resolveSftConfig(file, {}), /run\.yaml:/));
  assert.throws(() => resolveSftConfig(undefined, { model: 'm', data: 'd' }), /'out' is required/);
  assert.throws(() => resolveSftConfig(undefined, { model: 'm', data: 'd', out: 'o', rank: '2.5' }), /--rank: 'rank' must be an integer/);
  assert.throws(() => resolveSftConfig(undefined, { model: 'm', data: 'd', out: 'o', dropout: '1' }), /'dropout' must be at most 0.99/);
});
