// The studio's ranking store without a browser or model: leases and per-prompt counts, a torn last line cut off on
// start-up, rows (rankings with a written answer, thumbs) that the preference reader takes as they are, and τ.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPreferenceData } from '../src/data/preference.ts';
import { ServeError, type GenerationRequest, type GenerationResult, type ServingEngine } from '../src/serve/types.ts';
import { Assigner } from '../src/studio/assigner.ts';
import { CandidatePool } from '../src/studio/candidates.ts';
import { kendallTau } from '../src/studio/kendall.ts';
import { RankSession, type RankMode } from '../src/studio/rank-session.ts';
import { appendDurable, readStoredRows } from '../src/studio/rankings-file.ts';

/** Answers `<source>:<seed>:<choice>`: distinct, and the same for the same seed. */
const engine: ServingEngine = {
  context: 64,
  async generate(req: GenerationRequest): Promise<GenerationResult> {
    const choices = Array.from({ length: req.n }, (_, i) => ({ index: i, text: `${req.adapter ?? 'base'}:${req.seed}:${i}`, finishReason: 'stop' as const, tokens: [] }));
    return { choices, promptTokens: req.prompt.length, completionTokens: req.n };
  },
  stats: () => ({ queued: 0, running: 0, tokensPerSecond: 0, generatedTokens: 0, requestsByAdapter: {} }),
};

function session(out: string, mode: RankMode, warnings: string[] = []): RankSession {
  const pool = new CandidatePool(engine, [[1, 5], [1, 6]], [{ name: 'base' }, { name: 'sft', adapter: 'sft' }], { k: 3, temperature: 1, topP: 1, maxTokens: 8, seed: 0, stop: [] });
  return new RankSession({ prompts: ['first', [{ role: 'user', content: 'second' }]], pool, out, mode, perPrompt: 1, leaseMs: 60_000, warn: (l) => warnings.push(l) });
}

function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'whet-studio-store-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test('leases: one holder at a time, kept across asks, lapsing after the lease; a prompt ranked perPrompt times is not given again', () => {
  let now = 0;
  const a = new Assigner(3, 2, 1000, () => now);
  assert.equal(a.next('ann'), 0);
  assert.equal(a.next('bob'), 1);
  assert.equal(a.next('ann'), 0, 'asking again keeps the held prompt');
  assert.equal(a.heldByOther(0, 'bob'), true);
  now = 1001;
  assert.equal(a.next('cy'), 0, "ann's lease lapsed");
  a.record(0, 'cy');
  a.record(0, 'bob');
  assert.equal(a.next('ann'), 1, '0 has its two rankings; 1 is free again (bob\'s lease lapsed too)');
  a.skip(1, 'ann');
  assert.equal(a.next('ann'), 2);
  assert.deepEqual(a.progress('bob'), { mine: 1, complete: 1, total: 3 });
  assert.equal(a.open('ann'), 1, 'ann can still rank 2; 1 she skipped');
});

test('a ranking with a written better answer and thumbs rows are read by the preference reader as they are', () => withDir(async (dir) => {
  const out = join(dir, 'r.jsonl');
  const s = session(out, 'rank');
  const next = await s.next('ann');
  assert.equal(next?.index, 0);
  assert.equal(next!.candidates.length, 3);
  assert.deepEqual(new Set(next!.candidates.map((c) => c.split(':')[0])), new Set(['base', 'sft']), 'both sources answer');
  const sources = await s.submit('ann', 0, [2, 0, 1], '  A written answer  ');
  const row = JSON.parse(readFileSync(out, 'utf8')) as { prompt: string; responses: string[]; ranking: number[]; model_of_response: string[] };
  assert.equal(row.prompt, 'first');
  assert.deepEqual(row.responses, ['A written answer', ...next!.candidates]);
  assert.deepEqual(row.ranking, [0, 3, 1, 2]);
  assert.deepEqual(row.model_of_response, ['human', ...sources.map((c) => c.source)]);
  // A written answer equal to a candidate is that candidate ranked first, not a second copy of it.
  await s.next('ann');
  const second = await s.next('ann');
  assert.equal(second?.index, 1);
  await s.submit('ann', 1, [0, 1, 2], second!.candidates[2]);
  const last = JSON.parse(readFileSync(out, 'utf8').trim().split('\n')[1]!) as { messages: unknown; responses: string[]; ranking: number[] };
  assert.deepEqual(last.messages, [{ role: 'user', content: 'second' }]);
  assert.deepEqual(last.responses, second!.candidates);
  assert.deepEqual(last.ranking, [2, 0, 1]);
  const data = readPreferenceData(out);
  assert.equal(data.errorCount, 0, data.errors.join('\n'));
  assert.equal(data.pairs.length, 6 + 3);
  assert.equal(data.pairs[0]!.chosen, 'A written answer');

  const thumbsOut = join(dir, 't.jsonl');
  const t = session(thumbsOut, 'thumbs');
  const item = await t.next('bob');
  await t.thumbs('bob', item!.index, [true, null, false]);
  const fb = readPreferenceData(thumbsOut);
  assert.equal(fb.errorCount, 0, fb.errors.join('\n'));
  assert.deepEqual(fb.feedback.map((f) => [f.prompt, f.completion, f.label]), [['first', item!.candidates[0], true], ['first', item!.candidates[2], false]]);
}));

test('restart: rows on disk resume the counts; a torn last line is cut off and the file stays readable', () => withDir(async (dir) => {
  const out = join(dir, 'r.jsonl');
  const s = session(out, 'rank');
  const first = await s.next('ann');
  await s.submit('ann', first!.index, [0, 1, 2]);
  writeFileSync(out, readFileSync(out, 'utf8') + '{"prompt": "second", "respo');
  const warnings: string[] = [];
  const again = session(out, 'rank', warnings);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /incomplete last line/);
  assert.equal((await again.next('ann'))?.index, 1, 'prompt 0 is done');
  assert.equal((await again.next('bob'))?.index, undefined, 'ann holds 1, 0 has its ranking');
  appendDurable(out, [{ prompt: 'x', responses: ['a', 'b'], ranking: [1, 0] }]);
  assert.equal(readStoredRows(out, () => assert.fail('no torn line now')).length, 2);
  assert.equal(readPreferenceData(out).errorCount, 0);
}));

test('a prompt the engine refuses comes back with the reason and can be skipped', () => withDir(async (dir) => {
  const refusing: ServingEngine = { ...engine, generate: async () => Promise.reject(new ServeError(400, 'invalid_request_error', 'the prompt has 70 tokens; the model\'s context is 64')) };
  const pool = new CandidatePool(refusing, [[1, 5]], [{ name: 'base' }], { k: 2, temperature: 1, topP: 1, maxTokens: 8, seed: 0, stop: [] });
  const s = new RankSession({ prompts: ['long'], pool, out: join(dir, 'r.jsonl'), mode: 'rank', perPrompt: 1, leaseMs: 1000, warn: () => {} });
  const next = await s.next('ann');
  assert.deepEqual(next, { index: 0, candidates: [], error: "the models cannot answer this prompt: the prompt has 70 tokens; the model's context is 64" });
  await assert.rejects(s.submit('ann', 0, []), /not been shown yet/);
  s.skip('ann', 0);
  assert.equal(await s.next('ann'), undefined);
}));

test("Kendall's tau of best-first orderings", () => {
  assert.equal(kendallTau(['a', 'b', 'c'], ['a', 'b', 'c']), 1);
  assert.equal(kendallTau(['a', 'b', 'c'], ['c', 'b', 'a']), -1);
  assert.equal(kendallTau(['a', 'b', 'c'], ['a', 'c', 'b']), 1 / 3);
  assert.equal(kendallTau(['a', 'b', 'c', 'd'], ['b', 'a', 'd', 'c']), 1 / 3);
  assert.equal(kendallTau(['a', 'x'], ['a', 'y']), undefined, 'one answer in common');
});
