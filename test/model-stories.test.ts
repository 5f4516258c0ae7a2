// Real checkpoint (stories260K): exact logits against llama2.c, known greedy text, perplexity, and GGUF ↔ HF conversion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as T from '../src/tensor/index.ts';
import { loadModel } from '../src/model/load.ts';
import { generate } from '../src/generate/generate.ts';
import { perplexity } from '../src/eval/perplexity.ts';
import { convert } from '../src/model/convert.ts';
import { llama2cLogits } from './helpers/llama2c-reference.ts';
import { sharedPath, sharedSkip, STORIES_GGUF, STORIES_GREEDY } from './helpers/shared-data.ts';

const whet = (...args: string[]) => spawnSync(process.execPath, ['bin/whet.js', ...args], { encoding: 'utf8', env: { ...process.env, WHET_NO_PROGRESS: '1' } });

test('logits match an independent llama2.c forward pass over the .bin checkpoint', { skip: sharedSkip }, () => {
  const { model, tokenizer } = loadModel(STORIES_GGUF);
  const text = readFileSync(sharedPath('holdout-text/tinystories_val_slice.txt'), 'utf8').slice(0, 400);
  const ids = tokenizer.encode(text, { addBos: true }).slice(0, 96);
  const ref = llama2cLogits(sharedPath('models/stories260K/stories260K.bin'), ids);
  const ours = T.noGrad(() => T.tidy(() => model.logits(model.forward(Int32Array.from(ids), 1)).toArray()));
  let maxDiff = 0;
  ref.logits.forEach((row, t) => row.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - ours[t * ref.vocab + j]!)))));
  assert.ok(maxDiff < 1e-3, `max logit difference ${maxDiff}`);
  model.dispose();
});

test('greedy decoding from BOS gives the known story', { skip: sharedSkip }, () => {
  const { model, tokenizer } = loadModel(STORIES_GGUF);
  // The known text is 61 tokens long (its final '.' is the 61st): 64 tokens must begin with all of it.
  const [g] = generate(model, tokenizer, [tokenizer.encode('', { addBos: true })], { maxTokens: 64, temperature: 0 });
  assert.ok(g!.text.startsWith(STORIES_GREEDY), `got: ${g!.text}`);
  model.dispose();
});

test('perplexity on TinyStories validation text is in the expected range', { skip: sharedSkip }, () => {
  const { model, tokenizer } = loadModel(STORIES_GGUF);
  const text = readFileSync(sharedPath('holdout-text/tinystories_val_slice.txt'), 'utf8').slice(0, 60000);
  const r = perplexity(model, tokenizer.encode(text, { addBos: true }), 512);
  assert.ok(r.nll > 1.2 && r.nll < 1.45, `nll ${r.nll}`);
  assert.ok(Math.abs(r.ppl - Math.exp(r.nll)) < 1e-9);
  // Out-of-domain text is much harder for a TinyStories model.
  const wiki = readFileSync(sharedPath('holdout-text/wikitext-2/test.txt'), 'utf8').slice(0, 20000);
  assert.ok(perplexity(model, tokenizer.encode(wiki, { addBos: true }), 512).nll > r.nll + 1);
  model.dispose();
});

test('whet convert: GGUF → HF folder → GGUF keeps every tensor, and the folder generates the same text', { skip: sharedSkip }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-convert-'));
  try {
    const hf = path.join(dir, 'hf');
    convert(STORIES_GGUF, hf);
    const viaCli = whet('generate', '--model', hf, '--prompt', '', '--max-tokens', '60', '--temperature', '0');
    assert.equal(viaCli.status, 0, viaCli.stderr);
    assert.ok(STORIES_GREEDY.startsWith(viaCli.stdout) && viaCli.stdout.length > 150, `HF folder generated: ${viaCli.stdout}`);
    const back = path.join(dir, 'back.gguf');
    convert(hf, back);
    const a = loadModel(STORIES_GGUF);
    const b = loadModel(back);
    const ta = new Map(a.model.namedTensors().map(([n, t]) => [n, t.toArray()]));
    for (const [name, t] of b.model.namedTensors()) assert.deepEqual(t.toArray(), ta.get(name), name);
    const sample = 'Tom and Sue went to the park. They saw a dog!';
    assert.deepEqual(b.tokenizer.encode(sample), a.tokenizer.encode(sample));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('whet generate prints only the generated text on stdout; bad input exits non-zero with one line', { skip: sharedSkip }, () => {
  const r = whet('generate', '--model', STORIES_GGUF, '--prompt', '', '--max-tokens', '60', '--temperature', '0');
  assert.equal(r.status, 0, r.stderr);
  assert.ok(STORIES_GREEDY.startsWith(r.stdout) && r.stdout.length > 150, r.stdout);
  const p = whet('perplexity', '--model', STORIES_GGUF, '--text', sharedPath('holdout-text/tinystories_val_slice.txt'), '--max-tokens', '20000', '--json');
  assert.equal(p.status, 0, p.stderr);
  const j = JSON.parse(p.stdout) as { nll: number; ppl: number; tokens: number };
  assert.equal(j.tokens, 19999);
  assert.ok(j.nll > 1.2 && j.nll < 1.45, `nll ${j.nll}`);
  for (const args of [['generate', '--model', 'missing.gguf'], ['generate', '--model', STORIES_GGUF, '--temperature', 'hot'], ['perplexity', '--model', STORIES_GGUF]]) {
    const bad = whet(...args);
    assert.notEqual(bad.status, 0);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /^whet \w+: .+\n$/);
  }
});
