// Preference data: every format gives the same pairs for the same judgement, rankings expand into all pairs,
// thumbs up/down in both formats, malformed rows named by line and field, the real HH-RLHF file, and tokenised pairs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readPreferenceData } from '../src/data/preference.ts';
import { tokenizeFeedback, tokenizePair } from '../src/data/preference-tokenize.ts';
import { readGguf } from '../src/formats/gguf.ts';
import { tokenizerFromGguf } from '../src/tokenizer/gguf.ts';
import type { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { IGNORE_INDEX } from '../src/tensor/ops/loss.ts';
import { sharedPath, sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';

const decodeText = (tokenizer: Tokenizer, ids: Int32Array): string => tokenizer.decode([...ids]);

function withFile(rows: unknown[], fn: (file: string) => void): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-pref-'));
  try {
    const file = path.join(dir, 'prefs.jsonl');
    writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const user = (content: string) => ({ role: 'user' as const, content });
const assistant = (content: string) => ({ role: 'assistant' as const, content });

test('one judgement in every paired format gives the same pair', () => {
  const rows = [
    { prompt: [user('Hi'), assistant('Hello!'), user('What is 2+2?')], chosen: [assistant('4')], rejected: [assistant('5')] },
    { chosen: [user('Hi'), assistant('Hello!'), user('What is 2+2?'), assistant('4')], rejected: [user('Hi'), assistant('Hello!'), user('What is 2+2?'), assistant('5')] },
    { chosen: '\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: What is 2+2?\n\nAssistant: 4', rejected: '\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: What is 2+2?\n\nAssistant: 5' },
    { input: { messages: [user('Hi'), assistant('Hello!'), user('What is 2+2?')] }, preferred_output: [assistant('4')], non_preferred_output: [assistant('5')] },
    { conversations: [{ from: 'human', value: 'Hi' }, { from: 'gpt', value: 'Hello!' }, { from: 'human', value: 'What is 2+2?' }], chosen: { from: 'gpt', value: '4' }, rejected: { from: 'gpt', value: '5' } },
  ];
  withFile(rows, (file) => {
    const data = readPreferenceData(file);
    assert.deepEqual(data.errors, []);
    assert.deepEqual(
      { ...data.formats },
      { paired: 0, 'paired-messages': 1, 'implicit-prompt': 1, 'hh-rlhf': 1, openai: 1, llamafactory: 1, ranking: 0, feedback: 0 },
    );
    const expected = { prompt: [user('Hi'), assistant('Hello!'), user('What is 2+2?')], chosen: '4', rejected: '5' };
    for (const pair of data.pairs) assert.deepEqual(pair, expected);
  });
  withFile([{ prompt: 'Q: 2+2?', chosen: ' 4', rejected: ' 5' }], (file) => assert.deepEqual(readPreferenceData(file).pairs, [{ prompt: 'Q: 2+2?', chosen: ' 4', rejected: ' 5' }]));
});

test('a ranking of k answers expands into its k(k−1)/2 pairs, grouped by row', () => {
  withFile([{ prompt: 'Name a color.', responses: ['red', 'blue', 'dog', 'green'], ranking: [1, 0, 3, 2] }], (file) => {
    const { pairs, formats } = readPreferenceData(file);
    assert.equal(formats.ranking, 1);
    assert.deepEqual(pairs.map((p) => [p.chosen, p.rejected]), [['blue', 'red'], ['blue', 'green'], ['blue', 'dog'], ['red', 'green'], ['red', 'dog'], ['green', 'dog']]);
    assert.ok(pairs.every((p) => p.group === 0 && p.prompt === 'Name a color.'));
  });
});

test('thumbs up/down: TRL and LLaMA-Factory rows give the same feedback', () => {
  const rows = [
    { prompt: [user('Say hi')], completion: [assistant('hi')], label: true },
    { messages: [user('Say hi'), assistant('hi')], label: true },
    { prompt: 'Say hi', completion: 'go away', label: false },
  ];
  withFile(rows, (file) => {
    const { feedback, formats } = readPreferenceData(file);
    assert.equal(formats.feedback, 3);
    assert.deepEqual(feedback[0], { prompt: [user('Say hi')], completion: 'hi', label: true });
    assert.deepEqual(feedback[1], feedback[0]);
    assert.deepEqual(feedback[2], { prompt: 'Say hi', completion: 'go away', label: false });
  });
});

test('malformed rows are reported with their line and field, not trained on', () => {
  const rows = [
    { prompt: 'Q', chosen: 'same', rejected: 'same' },
    { prompt: 'Q', responses: ['a', 'b', 'c'], ranking: [0, 0, 1] },
    { prompt: 'Q', chosen: 'a' },
    { input: { messages: [user('Q')] }, preferred_output: [assistant('a'), assistant('b')], non_preferred_output: [assistant('c')] },
    { chosen: '\n\nHuman: Hi\n\nAssistant: A\n\nHuman: Q\n\nAssistant: x', rejected: '\n\nHuman: Hi\n\nAssistant: B\n\nHuman: Q\n\nAssistant: y' },
    { prompt: 'Q', completion: 'a', label: 'yes' },
    { prompt: [user('Q'), assistant('a')], chosen: [assistant('b')], rejected: [assistant('c')] },
    { question: 'Q' },
    { conversations: [{ from: 'human', value: 'Q' }], chosen: { from: 'human', value: 'a' }, rejected: { from: 'gpt', value: 'b' } },
  ];
  withFile(rows, (file) => {
    const data = readPreferenceData(file);
    assert.equal(data.errorCount, rows.length);
    assert.equal(data.pairs.length + data.feedback.length, 0);
    const name = path.basename(file);
    const expected = [
      /:1: field 'chosen': chosen and rejected are identical/,
      /:2: field 'ranking': expected the 3 response indices 0\.\.2, best first, each once/,
      /:3: unrecognised preference row \(fields prompt, chosen\)/,
      /:4: field 'preferred_output': expected exactly one assistant message/,
      /:5: field 'chosen': chosen and rejected must differ only in their last assistant turn \(they differ from turn 1\)/,
      /:6: field 'label': expected true or false, got string/,
      /:7: field 'prompt': the prompt must end with a user turn/,
      /:8: unrecognised preference row/,
      /:9: field 'chosen': expected an assistant \(gpt\) answer/,
    ];
    data.errors.forEach((e, i) => {
      assert.ok(e.includes(name), e);
      assert.match(e, expected[i]!);
    });
  });
});

test('Anthropic HH-RLHF (harmless-base test): dialogues split into a shared prompt and two final answers', { skip: sharedSkip }, () => {
  const data = readPreferenceData(sharedPath('preference/hh-rlhf_harmless-base_test.jsonl.gz'), { maxErrors: 1000 });
  assert.equal(data.formats['hh-rlhf'], data.pairs.length);
  console.log(`hh-rlhf: ${data.rows} rows → ${data.pairs.length} pairs; ${data.errorCount} reported (${[...new Set(data.errors.map((e) => e.replace(/^.*?: /, '').replace(/\(they differ from turn \d+\)/, '(…)')))].join('; ')})`);
  assert.ok(data.pairs.length >= 0.9 * data.rows, `${data.pairs.length} of ${data.rows} rows give a pair`);
  for (const p of data.pairs) {
    const prompt = p.prompt as { role: string }[];
    assert.equal(prompt[prompt.length - 1]!.role, 'user');
    assert.notEqual(p.chosen, p.rejected);
  }
});

test('a pair tokenises to two answers on the exact same prompt tokens, loss on each answer and its end token only', { skip: sharedSkip }, () => {
  const tokenizer = tokenizerFromGguf(readGguf(STORIES_GGUF).metadata);
  const eos = tokenizer.eosIds[0]!;
  const text = tokenizePair({ prompt: 'Tom had a red ball.', chosen: ' He was happy.', rejected: ' He was sad and cried.' }, tokenizer);
  const chat = tokenizePair({ prompt: [user('Hi'), assistant('Hello!'), user('Tell me about Tom.')], chosen: 'Tom is kind.', rejected: 'No.' }, tokenizer);
  for (const t of [text, chat]) {
    const p = t.promptTokens;
    assert.deepEqual([...t.chosen.ids.subarray(0, p)], [...t.rejected.ids.subarray(0, p)], 'the same prompt tokens');
    for (const side of [t.chosen, t.rejected]) {
      assert.ok(side.labels.subarray(0, p).every((l) => l === IGNORE_INDEX), 'no loss on the prompt (its assistant turns included)');
      const end = side.ids.lastIndexOf(eos); // the answer's end token; a template may add a trailer after it
      assert.ok(end > p, 'the answer ends with the end token');
      assert.ok(side.labels.subarray(p, end + 1).every((l, i) => l === side.ids[p + i]), 'loss on every answer token and the end token');
      assert.ok(side.labels.subarray(end + 1).every((l) => l === IGNORE_INDEX), 'none on the template trailer');
    }
    assert.notDeepEqual([...t.chosen.ids.subarray(p)], [...t.rejected.ids.subarray(p)]);
  }
  assert.ok(decodeText(tokenizer, chat.chosen.ids.subarray(chat.promptTokens)).includes('Tom is kind.'));
  assert.throws(() => tokenizePair({ prompt: 'Tom had a red ball and a big blue kite.', chosen: ' Yes', rejected: ' No' }, tokenizer, { maxLength: 4 }), /the prompt fills max_length \(4 tokens\)/);
  const f = tokenizeFeedback({ prompt: 'Say hi.', completion: ' hi', label: false }, tokenizer);
  assert.equal(f.label, false);
  assert.equal(f.example.labels[f.example.labels.length - 1], eos);
});

test('whet data validate, inspect and split take preference files', { skip: sharedSkip }, () => {
  const BIN = path.resolve(import.meta.dirname, '../bin/whet.js');
  const whet = (...argv: string[]) => spawnSync(process.execPath, [BIN, ...argv], { encoding: 'utf8' });
  const rows = [
    { prompt: 'Tom had a red ball.', chosen: ' He was happy and played all day long.', rejected: ' Sad.' },
    { prompt: 'Name a color.', responses: ['red', 'blue', 'dog'], ranking: [1, 0, 2] },
    { prompt: 'Say hi.', completion: ' hi', label: true },
    { prompt: 'Tom had a red ball.', chosen: ' He was happy and played all day long.', rejected: ' Sad.' },
  ];
  withFile(rows, (file) => {
    const ok = whet('data', 'validate', file, '--model', STORIES_GGUF);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /ok: 5 pairs, 1 feedback \(paired 2, ranking 1, feedback 1\)/);
    const inspect = JSON.parse(whet('data', 'inspect', file, '--model', STORIES_GGUF, '--json').stdout);
    assert.equal(inspect.pairs, 5);
    assert.ok(inspect.tokens.chosen.mean > 0 && inspect.tokens.prompt.min > 0);
    assert.equal(inspect.tokens.chosenLonger, 0.8, 'chosen is the longer answer in 4 of the 5 pairs');
    assert.match(whet('data', 'inspect', file, '--model', STORIES_GGUF).stdout, /chosen longer than rejected in 80\.0% of pairs/);
    const out = path.join(path.dirname(file), 'split');
    const split = whet('data', 'split', file, '--holdout', '0.34', '--out-dir', out);
    assert.equal(split.status, 0, split.stderr);
    assert.match(split.stdout, /2 train, 1 holdout \(seed 0; 1 duplicates dropped\)/);
    const back = [readPreferenceData(path.join(out, 'train.jsonl')), readPreferenceData(path.join(out, 'holdout.jsonl'))];
    assert.equal(back[0]!.pairs.length + back[1]!.pairs.length, 4, 'the ranking stays whole on one side');
  });
  withFile([{ prompt: 'Q', chosen: 'a', rejected: 'a' }], (file) => {
    const bad = whet('data', 'validate', file);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /prefs\.jsonl:1: field 'chosen': chosen and rejected are identical/);
  });
});
