// GGUF tokenizers (SentencePiece and byte-level BPE) against llama.cpp's test vectors, a real model's vocab, and hand-checked merges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readGguf } from '../src/formats/gguf.ts';
import type { GgufValue } from '../src/formats/gguf.ts';
import { tokenizerFromGguf } from '../src/tokenizer/gguf.ts';
import { WhetError } from '../src/errors.ts';
import { readVectors, runVectors, SHARED_DATA, skipWithoutSharedData, streamChunks, tinySpmMetadata, VOCAB_DIR } from './helpers/tokenizer-vectors.ts';

const skip = skipWithoutSharedData('the GGUF tokenizer tests on real vocabs');
const vocab = (name: string) => tokenizerFromGguf(readGguf(path.join(VOCAB_DIR, `ggml-vocab-${name}.gguf`)).metadata);

// Text whose characters span several byte-fallback or byte-level tokens.
const MULTIBYTE = 'Grüße 🦙 and 🚀✅ — 你好，世界 ok 😶‍🌫️!';

for (const name of ['llama-spm', 'gpt-2', 'phi-3']) {
  test(`${name}: llama.cpp's vectors tokenise exactly`, { skip }, () => {
    const cases = readVectors(name);
    const { matched, misses } = runVectors(vocab(name), cases);
    console.log(`${name}: ${matched}/${cases.length} llama.cpp vectors match`);
    assert.deepEqual(misses, []);
    assert.equal(matched, 46);
  });
}

test('llama-spm: BOS, special-token parsing, EOS ids and leading-space decoding', { skip }, () => {
  const tok = vocab('llama-spm');
  assert.equal(tok.vocabSize, 32000);
  assert.equal(tok.bosId, 1);
  assert.equal(tok.eosId, 2);
  assert.deepEqual(tok.eosIds, [2]);
  assert.equal(tok.addBos, true);
  const hello = tok.encode('Hello world');
  assert.deepEqual(hello, [1, 15043, 3186]);
  assert.deepEqual(tok.encode('Hello world', { addBos: false }), [15043, 3186]);
  // Control tokens in the text: whole tokens when parsed (with a fresh space prefix after each), text otherwise.
  assert.deepEqual(tok.encode('<s>Hi</s>', { addBos: false }), [1, 6324, 2]);
  const literal = tok.encode('<s>Hi</s>', { addBos: false, addSpecial: false });
  assert.ok(!literal.includes(1) && !literal.includes(2), `got ${literal}`);
  assert.equal(tok.decode(literal), '<s>Hi</s>');
  assert.equal(tok.decode(hello, { skipSpecial: true }), 'Hello world');
  assert.equal(tok.decode(hello), '<s> Hello world');
  assert.throws(() => tok.decode([32000]), WhetError);
});

test('stories260K: the embedded 512-token vocab round-trips TinyStories text', { skip }, () => {
  const meta = readGguf(path.join(SHARED_DATA, 'models/stories260K/stories260K.gguf')).metadata;
  const tok = tokenizerFromGguf(meta);
  assert.equal(tok.vocabSize, 512);
  assert.equal(tok.padId, undefined, 'padding id 2^32-1 is out of range and ignored');
  const stories = readFileSync(path.join(SHARED_DATA, 'holdout-text/tinystories_val_slice.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .slice(0, 5);
  const texts = ['Once upon a time, there was a little girl named Lily.', ' She loved to play outside.', ...stories];
  for (const s of texts) {
    const ids = tok.encode(s);
    assert.equal(ids[0], 1);
    assert.ok(ids.length < s.length, 'merges happened');
    assert.equal(tok.decode(ids, { skipSpecial: true }), s);
    assert.equal(tok.decode(tok.encode(s, { addBos: false })), s);
  }
});

for (const name of ['llama-spm', 'gpt-2']) {
  test(`${name}: streaming decode never splits a character and equals decode()`, { skip }, () => {
    const tok = vocab(name);
    const ids = tok.encode(MULTIBYTE, { addBos: false });
    const chunks = streamChunks(tok, ids);
    assert.equal(chunks.join(''), tok.decode(ids));
    assert.ok(chunks.every((c) => !c.includes('\uFFFD')), JSON.stringify(chunks));
    assert.ok(chunks.slice(0, -1).some((c) => c === ''), 'some token completed no character');
    // With the first tokens as prompt, only the rest is emitted, spaces included.
    const k = 3;
    const rest = streamChunks(tok, ids.slice(k), { prompt: ids.slice(0, k) }).join('');
    assert.equal(tok.decode(ids.slice(0, k)) + rest, tok.decode(ids));
  });
}

test('gpt-2: control tokens only when parsed; decode skips them on request', { skip }, () => {
  const tok = vocab('gpt-2');
  assert.equal(tok.addBos, false);
  assert.deepEqual(tok.eosIds, [50256]);
  const ids = tok.encode('Hi<|endoftext|>');
  assert.deepEqual(ids, [17250, 50256]);
  assert.ok(!tok.encode('Hi<|endoftext|>', { addSpecial: false }).includes(50256));
  assert.equal(tok.decode(ids), 'Hi<|endoftext|>');
  assert.equal(tok.decode(ids, { skipSpecial: true }), 'Hi');
});

// A hand-made SentencePiece vocab whose merges can be followed on paper.
function tinySpm(): Record<string, GgufValue> {
  return tinySpmMetadata([['▁', -10, 1], ['a', -10, 1], ['b', -10, 1], ['c', -10, 1], ['▁a', -3, 1], ['ab', -2, 1], ['bc', -1, 1], ['abc', -6, 1]]);
}

test('SentencePiece merges the highest-scoring pair first and falls back to bytes', () => {
  const tok = tokenizerFromGguf(tinySpm());
  const id = (t: string) => tok.tokenToId(t)!;
  // "▁abc": bc (-1) merges first, then ▁a (-3); ab and abc are then stale.
  assert.deepEqual(tok.encode('abc', { addBos: false }), [id('▁a'), id('bc')]);
  assert.deepEqual(tok.encode('abc'), [1, id('▁a'), id('bc')]);
  // Characters without a token become their UTF-8 bytes.
  assert.deepEqual(tok.encode('zé', { addBos: false }), [id('▁'), id('<0x7A>'), id('<0xC3>'), id('<0xA9>')]);
  assert.equal(tok.decode(tok.encode('a zé bc')), '<s> a zé bc');
  assert.equal(tok.decode(tok.encode('a zé bc'), { skipSpecial: true }), 'a zé bc');
  const chunks = streamChunks(tok, tok.encode('é', { addBos: false }));
  assert.deepEqual(chunks, ['', '', 'é', '']);
});

test('unsupported or malformed GGUF tokenizers are clear errors', () => {
  assert.throws(() => tokenizerFromGguf({}), /no 'tokenizer.ggml.model'/);
  assert.throws(() => tokenizerFromGguf({ 'tokenizer.ggml.model': 'bert', 'tokenizer.ggml.tokens': ['a'] }), /'bert' is not supported/);
  const gpt2 = { 'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.tokens': ['a', 'b'], 'tokenizer.ggml.merges': ['a b'] };
  assert.throws(() => tokenizerFromGguf({ ...gpt2, 'tokenizer.ggml.pre': 'mystery' }), /pre-tokenizer 'mystery' is not supported/);
  assert.throws(() => tokenizerFromGguf({ ...gpt2, 'tokenizer.ggml.merges': undefined as unknown as GgufValue }), /merges/);
  assert.throws(() => tokenizerFromGguf({ ...tinySpm(), 'tokenizer.ggml.scores': [1, 2] }), /fewer than/);
  assert.throws(() => tokenizerFromGguf({ 'tokenizer.ggml.model': 'llama', 'tokenizer.ggml.tokens': ['a', 'a'] }), /duplicate token/);
});
