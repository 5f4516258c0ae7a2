// The model's context everywhere: where it comes from, prompts past it refused or cut from the left, generation
// stopping at it with its reason, perplexity windows bounded by it, the training warning, and data inspect's count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { configFromHf } from '../src/model/config.ts';
import { modelContext, resolveContext } from '../src/model/context.ts';
import { loadConfig, loadModel } from '../src/model/load.ts';
import { generate } from '../src/generate/generate.ts';
import { sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';

const BIN = path.resolve(import.meta.dirname, '../bin/whet.js');
const whet = (...argv: string[]) => spawnSync(process.execPath, [BIN, ...argv], { encoding: 'utf8' });
const base = { model_type: 'llama', hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, vocab_size: 10, max_position_embeddings: 256 };

test('the context comes from max_position_embeddings (a linear RoPE scaling stretches it); --ctx beyond it needs --extrapolate', () => {
  assert.equal(modelContext(configFromHf(base)), 256);
  assert.equal(modelContext(configFromHf({ ...base, rope_scaling: { type: 'linear', factor: 4 } })), 1024);
  const llama3 = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 };
  assert.equal(modelContext(configFromHf({ ...base, rope_scaling: llama3 })), 256, 'Llama 3 counts the scaling in max_position_embeddings');
  const cfg = configFromHf(base);
  assert.equal(resolveContext(cfg), 256);
  assert.equal(resolveContext(cfg, 128), 128);
  assert.throws(() => resolveContext(cfg, 512), /--ctx 512 exceeds the model's context of 256 tokens .*--extrapolate/);
  assert.equal(resolveContext(cfg, 512, true), 512);
});

test('generate: a prompt that fills the context is refused, or cut from the left keeping BOS; generation stops at the context', { skip: sharedSkip }, () => {
  const { model, tokenizer } = loadModel(STORIES_GGUF);
  assert.equal(modelContext(loadConfig(STORIES_GGUF)), 2048, "the GGUF's context_length, read without the weights");
  const prompt = tokenizer.encode('Once upon a time there was a little dog who liked to run in the park with his friends', { addBos: true });
  assert.ok(prompt.length > 20);
  assert.throws(() => generate(model, tokenizer, [prompt], { ctx: 16, maxTokens: 4 }), new RegExp(`the prompt has ${prompt.length} tokens, but the model's context is 16`));
  const [cut] = generate(model, tokenizer, [prompt], { ctx: 16, maxTokens: 4, truncate: 'left', temperature: 0, stopTokens: [] });
  assert.equal(cut!.promptTokens, 12, 'keeps max(half the context, context − maxTokens) tokens');
  assert.equal(cut!.droppedPromptTokens, prompt.length - 12);
  assert.equal(cut!.tokens.length, 4);
  const [kept] = generate(model, tokenizer, [[prompt[0]!, ...prompt.slice(prompt.length - 11)]], { ctx: 16, maxTokens: 4, temperature: 0, stopTokens: [] });
  assert.deepEqual(cut!.tokens, kept!.tokens, 'the cut prompt is BOS + the last 11 tokens');
  const [full] = generate(model, tokenizer, [prompt.slice(0, 5)], { ctx: 16, maxTokens: 100, temperature: 0, stopTokens: [] });
  assert.equal(full!.tokens.length, 11, 'prompt + generated = the context');
  assert.equal(full!.finishReason, 'length');
  assert.equal(full!.contextFull, true);
  const [short] = generate(model, tokenizer, [prompt.slice(0, 5)], { ctx: 16, maxTokens: 3, temperature: 0, stopTokens: [] });
  assert.equal(short!.contextFull, false, 'stopped by --max-tokens, not by the context');
});

test('whet generate, perplexity, train and data inspect respect a 512-token context', { skip: sharedSkip }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-ctx-'));
  try {
    // stories260K was trained on 512-token sequences, but its GGUF says 2048: an HF copy says 512, as it should.
    const MODEL = path.join(dir, 'stories');
    assert.equal(whet('convert', STORIES_GGUF, MODEL).status, 0);
    const configPath = path.join(MODEL, 'config.json');
    writeFileSync(configPath, JSON.stringify({ ...JSON.parse(readFileSync(configPath, 'utf8')), max_position_embeddings: 512 }));
    const long = path.join(dir, 'long.txt');
    writeFileSync(long, Array.from({ length: 120 }, (_, i) => `Tom saw ${i % 7} red birds in the big tree.`).join(' '));
    const text = spawnSync('cat', [long], { encoding: 'utf8' }).stdout;
    const refused = whet('generate', '--model', MODEL, '--prompt', text, '--max-tokens', '8');
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /the prompt has \d+ tokens, but the model's context is 512: shorten it, or cut it from the left \(--truncate left\)/);
    const cut = whet('generate', '--model', MODEL, '--prompt', text, '--max-tokens', '8', '--truncate', 'left', '--temperature', '0');
    assert.equal(cut.status, 0, cut.stderr);
    const m = /warning: the prompt was cut from the left: (\d+) of its (\d+) tokens dropped to fit the context of 512/.exec(cut.stderr);
    assert.ok(m !== null, cut.stderr);
    assert.equal(Number(m[2]) - Number(m[1]), 504, 'kept 512 − 8 tokens');
    const stopped = whet('generate', '--model', MODEL, '--prompt', 'Once upon a time', '--max-tokens', '2000', '--temperature', '0');
    assert.equal(stopped.status, 0, stopped.stderr);
    const s = /\[(\d+) tokens in .* finish: length\]\nstopped at the model's context of 512 tokens \(prompt (\d+) \+ (\d+) generated\)/.exec(stopped.stderr);
    assert.ok(s !== null, stopped.stderr);
    assert.equal(Number(s[2]) + Number(s[3]), 512);
    assert.match(whet('generate', '--model', MODEL, '--prompt', 'Hi', '--ctx', '1024').stderr, /--ctx 1024 exceeds the model's context of 512 tokens/);

    const ppl = whet('perplexity', '--model', MODEL, '--text', long, '--ctx', '600');
    assert.equal(ppl.status, 1);
    assert.match(ppl.stderr, /--ctx 600 exceeds the model's context of 512 tokens/);
    assert.equal(whet('perplexity', '--model', MODEL, '--text', long, '--ctx', '600', '--extrapolate', '--max-tokens', '700').status, 0);

    const data = path.join(dir, 'data.jsonl');
    const rows = [{ prompt: 'Tell a story.', completion: text }, { prompt: 'Hi', completion: 'Hello there.' }];
    writeFileSync(data, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const inspect = whet('data', 'inspect', data, '--model', MODEL, '--json');
    assert.equal(inspect.status, 0, inspect.stderr);
    const ctx = JSON.parse(inspect.stdout).tokens.context;
    assert.equal(ctx.maxLength, 512);
    assert.equal(ctx.examples, 1, 'the long example passes the context');
    assert.ok(ctx.tokens > 0);
    assert.match(whet('data', 'inspect', data, '--model', MODEL).stdout, /the model's context of 512: cuts 1 examples \(50\.0%\)/);

    const train = whet('train', '--model', MODEL, '--data', data, '--out', path.join(dir, 'run'), '--max-length', '1024', '--steps', '1', '--holdout-fraction', '0', '--batch-size', '1');
    assert.equal(train.status, 0, train.stderr);
    const warnings = train.stderr.split('\n').filter((l) => l.includes("exceeds the model's context"));
    assert.deepEqual(warnings, ["warning: max_length 1024 exceeds the model's context of 512 tokens: positions past 512 are outside what it was trained on (lower --max-length to 512)"], 'warned once');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
