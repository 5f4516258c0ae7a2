// The byte-level BPE trainer: merges on a hand-worked example, and the tokenizer.json it writes, loaded through
// @huggingface/tokenizers, round-trips any text and applies the merges in their order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chatmlTokenizerFiles, CHATML_SPECIAL_TOKENS, countWords, trainBpe } from '../src/tokenizer/bpe-train.ts';
import { writeHfTokenizerFolder } from '../src/tokenizer/convert.ts';
import { tokenizerFromJson } from '../src/tokenizer/hf.ts';
import { renderChat } from '../src/tokenizer/chat-template.ts';

// Sennrich et al.'s example. Pair counts: e s 9 and s t 9 (newest 6 + widest 3) tie, "es" < "st" merges first;
// then es t 9; then l o 7 and o w 7 tie ("lo" first), lo w 7; then n e, e w and w est all 6: "ew" first.
const TOY = new Map([['low', 5], ['lower', 2], ['newest', 6], ['widest', 3]]);

test('merges follow pair frequency, ties broken by the merged text', () => {
  const bpe = trainBpe(TOY, { vocabSize: 256 + 5, specialTokens: [] });
  assert.deepEqual(bpe.merges, ['e s', 'es t', 'l o', 'lo w', 'e w']);
  assert.equal(bpe.vocab.get('est'), 257);
  assert.equal(bpe.vocab.get('ew'), 260);
  // The 256 bytes in byte order after the specials, spelled in GPT-2's alphabet (the space byte as Ġ).
  assert.equal(bpe.vocab.get('A'), 65);
  assert.equal(bpe.vocab.get('Ġ'), 32);
});

test('training stops when no pair occurs min_frequency times; the word order of the counts does not matter', () => {
  const bpe = trainBpe(TOY, { vocabSize: 1000, specialTokens: ['<s>'] });
  assert.ok(bpe.vocab.size < 1000);
  const reversed = trainBpe(new Map([...TOY].reverse()), { vocabSize: 1000, specialTokens: ['<s>'] });
  assert.deepEqual(reversed.merges, bpe.merges);
  assert.throws(() => trainBpe(TOY, { vocabSize: 100, specialTokens: [] }), /at least 256/);
});

const ENGLISH = `The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times.
She said, "We'll meet at 10:30 tomorrow," and left; nobody answered.
SELECT name, COUNT(*) FROM singer WHERE age > 30 GROUP BY name ORDER BY name;`;

function folderFor(bpe: ReturnType<typeof trainBpe>): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-bpe-'));
  writeHfTokenizerFolder(dir, chatmlTokenizerFiles(bpe, 512));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('the written tokenizer.json applies the learned merges in order', () => {
  const bpe = trainBpe(new Map([...TOY].map(([w, c]) => [w, c])), { vocabSize: 259 + 5, specialTokens: CHATML_SPECIAL_TOKENS });
  const { dir, cleanup } = folderFor(bpe);
  try {
    const tok = tokenizerFromJson(dir);
    // n e w e s t → n e w es t → n e w est → n ew est (lo w never applies)
    assert.deepEqual(tok.encode('newest').map((id) => tok.idToToken(id)), ['n', 'ew', 'est']);
    assert.deepEqual(tok.encode('lowest').map((id) => tok.idToToken(id)), ['low', 'est']);
  } finally {
    cleanup();
  }
});

test('encode then decode gives back any text: English, SQL, accents, CJK, emoji, whitespace runs', () => {
  const bpe = trainBpe(countWords([ENGLISH.repeat(3)]), { vocabSize: 600, specialTokens: CHATML_SPECIAL_TOKENS });
  const { dir, cleanup } = folderFor(bpe);
  try {
    const tok = tokenizerFromJson(dir);
    assert.equal(tok.vocabSize, bpe.vocab.size);
    const samples = [ENGLISH, 'naïve café — Ünïcödé', '東京は日本の首都です。', 'emoji 🤖🎉 mixed', '  two  spaces\t\ttabs\n\n\nnewlines  ', "SELECT * FROM t WHERE x = 'a''b' AND y <> 3.5;", ''];
    for (const s of samples) assert.equal(tok.decode(tok.encode(s)), s);
    // Merges were learned: common English takes fewer tokens than bytes.
    assert.ok(tok.encode(ENGLISH).length < new TextEncoder().encode(ENGLISH).length / 2);
    // The specials are single tokens, and the ChatML template renders and encodes through them.
    const chat = renderChat(tok.chatTemplate!, [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }], { addGenerationPrompt: false });
    assert.equal(chat, '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n');
    const ids = tok.encode(chat);
    assert.equal(ids[0], 1);
    assert.equal(ids.filter((id) => id === 2).length, 2);
    assert.equal(tok.decode(ids), chat);
    assert.equal(tok.eosId, 0);
    assert.deepEqual(tok.eosIds, [0, 2]);
    assert.equal(tok.addBos, false);
  } finally {
    cleanup();
  }
});
