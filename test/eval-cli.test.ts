// `whet eval` end to end: predictions files (exact, Spider SQL gold and shuffled), generation and ppl with stories260K, bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedPath, sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';
import { Rng } from '../src/tensor/random.ts';

function whet(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/whet.js', ...args], { encoding: 'utf8', env: { ...process.env, WHET_NO_PROGRESS: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r) + '\n').join('');

test('whet eval --metric exact|normalized with a predictions file scores the known fraction', () => {
  const dir = mkdtempSync(join(tmpdir(), 'whet-eval-'));
  try {
    const data = join(dir, 'qa.jsonl');
    writeFileSync(data, jsonl([
      { prompt: 'Capital of France?', completion: 'Paris' },
      { prompt: 'Capital of Peru?', completion: 'Lima' },
      { prompt: 'Largest planet?', completion: 'Jupiter' },
      { messages: [{ role: 'user', content: 'Two plus two?' }, { role: 'assistant', content: 'Four.' }] },
      { prompt: 'Colour of the sky?', completion: 'Blue' },
    ]));
    const preds = join(dir, 'preds.jsonl');
    writeFileSync(preds, jsonl([{ prediction: 'Paris\n' }, { prediction: 'lima' }, { prediction: 'Jupiter' }, { prediction: 'four' }, { prediction: 'Green' }]));

    const exact = whet('eval', '--data', data, '--metric', 'exact', '--predictions', preds, '--json');
    assert.equal(exact.code, 0, exact.stderr);
    assert.deepEqual(JSON.parse(exact.stdout), { metric: 'exact', score: 2 / 5, n: 5 });
    const norm = whet('eval', '--data', data, '--metric', 'normalized', '--predictions', preds, '--json');
    assert.deepEqual(JSON.parse(norm.stdout), { metric: 'normalized', score: 4 / 5, n: 5 });
    // --limit takes the first examples (and the matching first predictions); the human line names the metric.
    const human = whet('eval', '--data', data, '--metric', 'exact', '--predictions', preds, '--limit', '2');
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^exact match: 0\.5000 over 2 examples/);

    // A count mismatch, a malformed line and missing flags are one-line errors with a non-zero exit.
    writeFileSync(join(dir, 'short.jsonl'), jsonl([{ prediction: 'Paris' }]));
    const short = whet('eval', '--data', data, '--metric', 'exact', '--predictions', join(dir, 'short.jsonl'));
    assert.equal(short.code, 1);
    assert.match(short.stderr, /1 predictions for 5 examples/);
    writeFileSync(join(dir, 'bad.jsonl'), '{"prediction": "a"}\n{"answer": "b"}\n');
    const bad = whet('eval', '--data', data, '--metric', 'exact', '--predictions', join(dir, 'bad.jsonl'));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /bad\.jsonl:2: expected \{"prediction"/);
    const noModel = whet('eval', '--data', data, '--metric', 'exact');
    assert.equal(noModel.code, 2);
    assert.match(noModel.stderr, /--model is required/);
    const noDb = whet('eval', '--data', data, '--metric', 'sql', '--predictions', preds);
    assert.equal(noDb.code, 2);
    assert.match(noDb.stderr, /--metric sql needs --db/);
    for (const r of [short, bad, noModel, noDb]) assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const SPIDER = sharedPath('text-to-sql/spider');

test('Spider dev: gold queries as predictions score 1.0 on all 1,034; shuffled across questions they score low', { skip: sharedSkip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'whet-eval-'));
  try {
    const rows = JSON.parse(readFileSync(join(SPIDER, 'dev.json'), 'utf8')) as { query: string }[];
    assert.equal(rows.length, 1034);
    const gold = join(dir, 'gold.jsonl');
    writeFileSync(gold, jsonl(rows.map((r) => ({ prediction: r.query }))));
    const args = ['eval', '--data', join(SPIDER, 'dev.json'), '--metric', 'sql', '--db', join(SPIDER, 'database'), '--json'];
    const r = whet(...args, '--predictions', gold);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, number>;
    assert.equal(out.metric, 'sql');
    assert.equal(out.n, 1034);
    assert.equal(out.score, 1);
    assert.equal(out.datasetErrors, 0);

    // A seeded shuffle: each question gets another question's query (most run on the wrong database and fail).
    const rng = new Rng(1234);
    const order = rows.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng.uniform() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const shuffled = join(dir, 'shuffled.jsonl');
    writeFileSync(shuffled, jsonl(order.map((i) => ({ prediction: rows[i]!.query }))));
    const s = whet(...args, '--predictions', shuffled);
    assert.equal(s.code, 0, s.stderr);
    const so = JSON.parse(s.stdout) as Record<string, number>;
    assert.equal(so.n, 1034);
    assert.ok(so.score < 0.2, `shuffled score ${so.score}`);
    assert.ok(so.predictionErrors > 500, `${so.predictionErrors} prediction errors`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stories260K: greedy generation is scored (leading space kept) and ppl is the mean NLL of the completion tokens', { skip: sharedSkip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'whet-eval-'));
  try {
    const data = join(dir, 'stories.jsonl');
    // The model's own greedy continuations (../shared/data/README.md) and one it will not produce.
    writeFileSync(data, jsonl([
      { prompt: 'Once upon a time,', completion: ' there was a little girl named Lily.' },
      { prompt: 'Once upon a time, there was a little girl named Lily. She loved to play outside in the', completion: ' park.' },
      { prompt: 'Once upon a time,', completion: ' a dragon ate the moon.' },
    ]));
    const scorer = join(dir, 'prefix.mjs');
    writeFileSync(scorer, 'export default (prediction, example) => prediction.startsWith(example.completion);\n');
    const saved = join(dir, 'saved.jsonl');
    const r = whet('eval', '--model', STORIES_GGUF, '--data', data, '--metric', 'scorer', '--scorer', scorer, '--max-tokens', '12', '--save-predictions', saved, '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { metric: 'scorer', score: 2 / 3, n: 3 });
    const preds = readFileSync(saved, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { prediction: string }).prediction);
    assert.equal(preds.length, 3);
    assert.ok(preds[0]!.startsWith(' there was a little girl named Lily.'), preds[0]);
    // The saved predictions score the same again without the model.
    const again = whet('eval', '--data', data, '--metric', 'scorer', '--scorer', scorer, '--predictions', saved, '--json');
    assert.deepEqual(JSON.parse(again.stdout), { metric: 'scorer', score: 2 / 3, n: 3 });

    const ppl = whet('eval', '--model', STORIES_GGUF, '--data', data, '--metric', 'ppl', '--json');
    assert.equal(ppl.code, 0, ppl.stderr);
    const p = JSON.parse(ppl.stdout) as { score: number; nll: number; ppl: number; tokens: number; n: number };
    assert.equal(p.n, 3);
    assert.equal(p.score, p.nll);
    assert.ok(Math.abs(p.ppl - Math.exp(p.nll)) < 1e-9 * p.ppl);
    assert.ok(p.nll > 0.1 && p.nll < 10, `nll ${p.nll}`);
    // Loss tokens: each completion's tokens plus its EOS; far fewer than prompt + completion.
    assert.ok(p.tokens >= 3 + 3 && p.tokens < 40, `${p.tokens} tokens`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
