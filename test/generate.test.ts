// Generation on a real model: seeds, batching, streaming, stop strings and stop tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../src/model/load.ts';
import { generate } from '../src/generate/generate.ts';
import { sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';

const load = () => loadModel(STORIES_GGUF);

test('same seed, same output; different seeds differ', { skip: sharedSkip }, () => {
  const { model, tokenizer } = load();
  const prompt = [tokenizer.encode('Once upon a time', { addBos: true })];
  const a = generate(model, tokenizer, prompt, { maxTokens: 40, temperature: 1, seed: 7 })[0]!;
  const b = generate(model, tokenizer, prompt, { maxTokens: 40, temperature: 1, seed: 7 })[0]!;
  const c = generate(model, tokenizer, prompt, { maxTokens: 40, temperature: 1, seed: 8 })[0]!;
  assert.deepEqual(a.tokens, b.tokens);
  assert.notDeepEqual(a.tokens, c.tokens);
});

test('several prompts decoded together give what each gives alone', { skip: sharedSkip }, () => {
  const { model, tokenizer } = load();
  const prompts = ['Tom had a red', 'One day, a big cat', 'The sun'].map((p) => tokenizer.encode(p, { addBos: true }));
  for (const opts of [{ temperature: 0 }, { temperature: 0.9, topK: 20, seed: 3 }]) {
    const together = generate(model, tokenizer, prompts, { maxTokens: 30, ...opts });
    prompts.forEach((p, i) => assert.deepEqual(together[i]!.tokens, generate(model, tokenizer, [p], { maxTokens: 30, ...opts })[0]!.tokens));
  }
});

test('streamed pieces add up to the final text; stop strings end it and are left out', { skip: sharedSkip }, () => {
  const { model, tokenizer } = load();
  const prompt = [tokenizer.encode('', { addBos: true })];
  let streamed = '';
  const full = generate(model, tokenizer, prompt, { maxTokens: 60, temperature: 0, onText: (t) => (streamed += t) })[0]!;
  assert.equal(streamed, full.text);
  assert.equal(full.finishReason, 'length');
  let streamed2 = '';
  const stopped = generate(model, tokenizer, prompt, { maxTokens: 60, temperature: 0, stopStrings: ['Lily'], onText: (t) => (streamed2 += t) })[0]!;
  assert.equal(stopped.finishReason, 'stop');
  assert.equal(stopped.text, full.text.slice(0, full.text.indexOf('Lily')));
  assert.equal(streamed2, stopped.text);
});

test('a stop token ends generation and is not part of the text', { skip: sharedSkip }, () => {
  const { model, tokenizer } = load();
  const prompt = [tokenizer.encode('', { addBos: true })];
  const full = generate(model, tokenizer, prompt, { maxTokens: 20, temperature: 0 })[0]!;
  const stopAt = full.tokens[5]!;
  const g = generate(model, tokenizer, prompt, { maxTokens: 20, temperature: 0, stopTokens: [stopAt] })[0]!;
  assert.equal(g.finishReason, 'stop');
  assert.deepEqual(g.tokens, full.tokens.slice(0, full.tokens.indexOf(stopAt)));
});
