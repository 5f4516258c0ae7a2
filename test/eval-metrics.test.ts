// Exact and normalised match, user scorer modules (.mjs, .ts, CommonJS, bad ones), and scoring predictions against examples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exactMatch, loadScorer, normalizeAnswer, normalizedMatch, scoreAll } from '../src/eval/metrics.ts';
import { scorePredictions } from '../src/eval/score.ts';
import type { Example } from '../src/data/formats.ts';

test('exact match ignores trailing whitespace only', () => {
  assert.equal(exactMatch('Paris\n', 'Paris'), true);
  assert.equal(exactMatch('Paris', 'Paris  \n'), true);
  assert.equal(exactMatch(' Paris', 'Paris'), false);
  assert.equal(exactMatch('paris', 'Paris'), false);
  assert.equal(exactMatch('Paris.', 'Paris'), false);
});

test('normalised match follows SQuAD: case, punctuation, articles, whitespace; plus NFKC', () => {
  assert.equal(normalizeAnswer('The  Eiffel Tower!'), 'eiffel tower');
  assert.equal(normalizeAnswer('an apple, a pear & the plum.'), 'apple pear plum');
  // Articles only as whole words: "theatre" and "another" keep their letters.
  assert.equal(normalizeAnswer('Theatre another Anthem'), 'theatre another anthem');
  // NFKC folds the full-width and ligature forms; Unicode quotes and dashes are punctuation.
  assert.equal(normalizeAnswer('ＡＢＣ ﬁne “quoted” — yes…'), 'abc fine quoted yes');
  assert.equal(normalizedMatch('The answer is: 42.', 'answer is 42'), true);
  assert.equal(normalizedMatch('43', '42'), false);
  assert.equal(normalizedMatch('Élan', 'élan'), true);
});

test('user scorer modules: .mjs, .ts (through tsx), CommonJS, async, booleans; bad modules fail clearly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'whet-scorer-'));
  try {
    writeFileSync(join(dir, 'len.mjs'), 'export default (p, ex) => p.length === ex.want;\n');
    writeFileSync(join(dir, 'typed.ts'), 'export default async (p: string, ex: { want: number }): Promise<number> => (p.length >= ex.want ? 1 : 0.5);\n');
    writeFileSync(join(dir, 'common.cjs'), 'module.exports = (p) => (p === "yes" ? 1 : 0);\n');
    writeFileSync(join(dir, 'nodefault.mjs'), 'export const score = () => 1;\n');
    writeFileSync(join(dir, 'nan.mjs'), 'export default () => NaN;\n');
    writeFileSync(join(dir, 'throws.mjs'), 'export default () => { throw new Error("boom"); };\n');
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    const examples = [{ want: 3 }, { want: 5 }];

    assert.deepEqual(await scoreAll(await loadScorer<{ want: number }>(join(dir, 'len.mjs')), ['abc', 'abc'], examples), [1, 0]);
    assert.deepEqual(await scoreAll(await loadScorer<{ want: number }>(join(dir, 'typed.ts')), ['abc', 'abc'], examples), [1, 0.5]);
    assert.deepEqual(await scoreAll(await loadScorer(join(dir, 'common.cjs')), ['yes', 'no'], [{}, {}]), [1, 0]);

    await assert.rejects(loadScorer(join(dir, 'nodefault.mjs')), /must default-export a function.*missing/);
    await assert.rejects(loadScorer(join(dir, 'missing.mjs')), /no such scorer module/);
    await assert.rejects(loadScorer(join(dir, 'notes.txt')), /must be a .*\.mjs/);
    await assert.rejects(scoreAll(await loadScorer(join(dir, 'nan.mjs')), ['a'], [{}]), /returned NaN for example 1/);
    await assert.rejects(scoreAll(await loadScorer(join(dir, 'throws.mjs')), ['a'], [{}]), /scorer failed on example 1: boom/);

    // Through scorePredictions: the scorer gets the Example itself; the score is the mean.
    writeFileSync(join(dir, 'ref.mjs'), 'export default (p, ex) => p.trim() === ex.completion.trim();\n');
    const data: Example[] = [
      { kind: 'completion', prompt: 'q1', completion: ' a' },
      { kind: 'completion', prompt: 'q2', completion: ' b' },
      { kind: 'completion', prompt: 'q3', completion: ' c' },
      { kind: 'completion', prompt: 'q4', completion: ' d' },
    ];
    const r = await scorePredictions('scorer', ['a', 'x', 'c', 'y'], data, { scorer: join(dir, 'ref.mjs') });
    assert.equal(r.score, 0.5);
    assert.equal(r.n, 4);
    assert.deepEqual(r.perExample, [1, 0, 1, 0]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('exact and normalised scores against completion and chat references', async () => {
  const data: Example[] = [
    { kind: 'completion', prompt: 'Capital of France?', completion: 'Paris' },
    { kind: 'chat', messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }, { role: 'user', content: 'Largest planet?' }, { role: 'assistant', content: 'Jupiter' }] },
    { kind: 'completion', prompt: 'Colour of the sky?', completion: 'The blue one.' },
  ];
  const preds = ['Paris\n', 'jupiter', 'blue one'];
  const exact = await scorePredictions('exact', preds, data);
  assert.deepEqual(exact.perExample, [1, 0, 0]);
  const norm = await scorePredictions('normalized', preds, data);
  assert.deepEqual(norm.perExample, [1, 1, 1]);
  assert.equal(norm.score, 1);
});
