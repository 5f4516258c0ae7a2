// `whet merge` end to end on stories260K (GGUF and HF-folder bases): the merged folder loads and matches the LoRA model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/tensor/index.ts';
import { loadModel } from '../src/model/load.ts';
import type { LlamaModel } from '../src/model/llama.ts';
import { convert } from '../src/model/convert.ts';
import { main } from '../src/cli/main.ts';
import { applyLora, loraLayers, type LoraConfig } from '../src/adapters/apply.ts';
import { saveAdapter } from '../src/adapters/peft.ts';
import { sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';

const tmp = mkdtempSync(join(tmpdir(), 'whet-lora-merge-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function logitsOf(model: LlamaModel, ids: number[]): number[] {
  return T.noGrad(() => T.tidy(() => model.logits(model.forward(Int32Array.from(ids), 1)).toArray()));
}

function maxRelDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!) / (1 + Math.abs(b[i]!))), 0);
}

/** Runs the CLI in-process; returns its exit code and what it wrote to stderr. */
async function whet(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    return { code: await main(args), stderr };
  } finally {
    process.stderr.write = write;
  }
}

test('whet merge: stories260K + a saved non-zero adapter → an HF folder whose logits equal the LoRA model\'s', { skip: sharedSkip }, async () => {
  const { model, tokenizer } = loadModel(STORIES_GGUF);
  const ids = tokenizer.encode('Once upon a time, there was a little girl', { addBos: true });
  const base = logitsOf(model, ids);
  const cfg: LoraConfig = { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear', seed: 1 };
  applyLora(model, cfg);
  const rng = new T.Rng(2);
  for (const { layer } of loraLayers(model)) {
    const b = layer.lora_B.weight.f;
    for (let i = 0; i < b.length; i++) b[i] = rng.normal() * 0.05;
  }
  const expected = logitsOf(model, ids);
  assert.ok(maxRelDiff(expected, base) > 1e-2, 'the adapter changes the logits');
  const adapter = join(tmp, 'adapter');
  saveAdapter(adapter, model, cfg, STORIES_GGUF);

  const out = join(tmp, 'merged-from-gguf');
  const r = await whet(['merge', '--model', STORIES_GGUF, '--adapter', adapter, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /merged 35 LoRA layers/);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) assert.ok(existsSync(join(out, f)), `${f} written`);
  const merged = loadModel(out);
  assert.equal(merged.format, 'hf');
  assert.deepEqual(merged.tokenizer.encode('Once upon a time, there was a little girl', { addBos: true }), ids, 'same tokenizer');
  const d = maxRelDiff(logitsOf(merged.model, ids), expected);
  assert.ok(d < 1e-4, `merged logits differ from the LoRA model's by ${d}`);

  // An HF-folder base takes the other path (its own config.json and tokenizer files).
  const hfBase = join(tmp, 'stories-hf');
  convert(STORIES_GGUF, hfBase);
  const out2 = join(tmp, 'merged-from-hf');
  assert.equal((await whet(['merge', '--model', hfBase, '--adapter', adapter, '--out', out2])).code, 0);
  const d2 = maxRelDiff(logitsOf(loadModel(out2).model, ids), expected);
  assert.ok(d2 < 1e-4, `merged (HF base) logits differ by ${d2}`);

  // --dtype bf16 writes bf16 weights that still load.
  const out3 = join(tmp, 'merged-bf16');
  assert.equal((await whet(['merge', '--model', hfBase, '--adapter', adapter, '--out', out3, '--dtype', 'bf16'])).code, 0);
  const bytes = readFileSync(join(out3, 'model.safetensors'));
  const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8')) as Record<string, { dtype?: string }>;
  assert.equal(header['model.layers.0.self_attn.q_proj.weight']!.dtype, 'BF16');
  assert.equal((JSON.parse(readFileSync(join(out3, 'config.json'), 'utf8')) as { torch_dtype: string }).torch_dtype, 'bfloat16');
  const d3 = maxRelDiff(logitsOf(loadModel(out3).model, ids), expected);
  assert.ok(d3 < 0.1, `bf16 merged logits stay near: ${d3}`);
});

test('whet merge: bad input is one clear line and a non-zero exit', { skip: sharedSkip }, async () => {
  const missing = await whet(['merge', '--model', STORIES_GGUF, '--adapter', join(tmp, 'no-such-adapter'), '--out', join(tmp, 'x')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^whet merge: .*no-such-adapter: no such adapter folder\n$/);
  const usage = await whet(['merge', '--model', STORIES_GGUF, '--adapter', tmp]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--out is required/);
  const self = await whet(['merge', '--model', tmp, '--adapter', tmp, '--out', tmp]);
  assert.equal(self.code, 1);
  assert.match(self.stderr, /is the base model itself/);
  assert.ok(!existsSync(join(tmp, 'x')), 'nothing written on failure');
});
