// RL reward functions: built-ins (exact, normalized, regex, sql), user modules good and bad, weights, async, specs, Spider.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { exactReward, normalizedReward, regexReward, sqlReward } from '../src/rl/builtin-rewards.ts';
import { batchReward, combineRewards, type RewardFn } from '../src/rl/combine.ts';
import { loadRewardFunction, parseRewardSpec, rewardFunctions, rewardsFromSpecs } from '../src/rl/rewards.ts';
import { extractSql } from '../src/rl/sql-answer.ts';
import { sharedPath, sharedSkip } from './helpers/shared-data.ts';

const score = (fn: RewardFn, completion: string, example: Record<string, unknown>): number | Promise<number> => fn('q', completion, example);

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'whet-rewards-'));
}

test('extractSql: fences, first statement, semicolons inside literals and comments', () => {
  assert.equal(extractSql('  SELECT 1 ; SELECT 2'), 'SELECT 1');
  assert.equal(extractSql('Here it is:\n```sql\nSELECT name FROM t;\n```\nThis lists names.'), 'SELECT name FROM t');
  assert.equal(extractSql('```\nSELECT 2\n```'), 'SELECT 2');
  // Cut off by the sampling limit before the closing fence.
  assert.equal(extractSql('```sql\nSELECT 3 FROM t'), 'SELECT 3 FROM t');
  assert.equal(extractSql("SELECT 'a;b', \"c;d\" FROM t -- x;y\nWHERE 1 /* ; */; DROP TABLE t"), "SELECT 'a;b', \"c;d\" FROM t -- x;y\nWHERE 1 /* ; */");
  assert.equal(extractSql("SELECT 'it''s;' FROM t;"), "SELECT 'it''s;' FROM t");
  assert.equal(extractSql(' ; '), '');
});

test('exact: trimmed completion against answer, else completion, or a chosen field; numbers count', async () => {
  const exact = exactReward();
  assert.equal(await score(exact, ' 42\n', { answer: '42' }), 1);
  assert.equal(await score(exact, '43', { answer: '42' }), 0);
  assert.equal(await score(exact, 'Paris', { completion: ' Paris' }), 1);
  // answer comes before completion.
  assert.equal(await score(exact, 'Paris', { answer: 'Lyon', completion: 'Paris' }), 0);
  assert.equal(await score(exact, '42', { answer: 42 }), 1);
  assert.equal(await score(exactReward(['solution']), '7', { solution: '7', answer: '8' }), 1);
  assert.throws(() => score(exact, '1', { question: 'x' }), /no 'answer' or 'completion' field/);
  assert.throws(() => score(exact, '1', { answer: ['1'] }), /'answer' field is an array/);
});

test('normalized: case, punctuation and articles do not matter; content does', async () => {
  const norm = normalizedReward();
  assert.equal(await score(norm, 'The Eiffel tower.', { answer: 'eiffel Tower' }), 1);
  assert.equal(await score(norm, 'the Louvre', { answer: 'eiffel tower' }), 0);
});

test('regex: a format check, flags through /…/FLAGS, bad patterns name the spec', async () => {
  const digits = regexReward(/^\d+$/);
  assert.equal(await score(digits, '123', {}), 1);
  assert.equal(await score(digits, '12a', {}), 0);
  const reward = await rewardsFromSpecs(['regex:/^<think>.*<\\/think>\\s*\\d+$/s']);
  assert.equal((await reward('q', '<think>a\nb</think> 7', {})).total, 1);
  assert.equal((await reward('q', '<think>a\nb 7', {})).total, 0);
  await assert.rejects(rewardsFromSpecs(['regex:(']), /reward spec 'regex:\(': bad pattern: Invalid regular expression/);
  await assert.rejects(rewardsFromSpecs(['regex:/a/g']), /reward spec 'regex:\/a\/g'.*g and y flags/);
});

test('spec syntax: NAME[:ARG][@WEIGHT], names without the weight, clear errors', async () => {
  assert.deepEqual(parseRewardSpec('exact'), { kind: 'exact', arg: '', weight: 1, name: 'exact' });
  assert.deepEqual(parseRewardSpec('exact:solution@0.5'), { kind: 'exact', arg: 'solution', weight: 0.5, name: 'exact:solution' });
  assert.deepEqual(parseRewardSpec('regex:^\\d+$@-2'), { kind: 'regex', arg: '^\\d+$', weight: -2, name: 'regex:^\\d+$' });
  assert.deepEqual(parseRewardSpec('sql:dbs/spider@1e-1'), { kind: 'sql', arg: 'dbs/spider', weight: 0.1, name: 'sql:dbs/spider' });
  // Only the last @NUMBER is a weight: an ARG ending in one keeps it when a weight follows.
  assert.deepEqual(parseRewardSpec('regex:a@2@1'), { kind: 'regex', arg: 'a@2', weight: 1, name: 'regex:a@2' });
  assert.deepEqual(parseRewardSpec('file:my@home/r.ts'), { kind: 'file', arg: 'my@home/r.ts', weight: 1, name: 'file:my@home/r.ts' });
  assert.throws(() => parseRewardSpec('bleu'), /reward spec 'bleu': unknown reward 'bleu'; one of exact, normalized, regex, sql, file/);
  assert.throws(() => parseRewardSpec('exact@x'), /unknown reward 'exact@x'.*a weight is @ and a number/);
  assert.throws(() => parseRewardSpec('regex'), /reward spec 'regex': regex needs regex:PATTERN/);
  assert.throws(() => parseRewardSpec('exact:@2'), /reward spec 'exact:@2': exact needs exact:FIELD/);
  assert.throws(() => parseRewardSpec('sql@2'), /sql needs sql:DB/);
  await assert.rejects(rewardsFromSpecs(['sql:/nonexistent/spider']), /reward spec 'sql:\/nonexistent\/spider': \/nonexistent\/spider: no such database file or folder/);
  await assert.rejects(rewardsFromSpecs(['exact', 'exact']), /reward 'exact' is listed twice/);
  await assert.rejects(rewardsFromSpecs(['exact@1e999']), /weight Infinity is not a finite number/);
  await assert.rejects(rewardsFromSpecs([]), /no reward functions given/);
});

test('weights: total is Σ weight · part, each part kept by name', async () => {
  const reward = await rewardsFromSpecs(['exact@2', 'regex:^\\d+$@0.5', 'normalized:alias@0']);
  assert.deepEqual(reward.names, ['exact', 'regex:^\\d+$', 'normalized:alias']);
  assert.deepEqual(await reward('q', '42', { answer: '42', alias: 'forty-two' }), { total: 2.5, parts: { exact: 1, 'regex:^\\d+$': 1, 'normalized:alias': 0 } });
  assert.deepEqual(await reward('q', 'x', { answer: '42', alias: 'X' }), { total: 0, parts: { exact: 0, 'regex:^\\d+$': 0, 'normalized:alias': 1 } });
});

test('async rewards run concurrently, within a completion and across a batch; errors name the function and the row', async () => {
  const slow = (v: number): RewardFn => () => new Promise((resolve) => setTimeout(() => resolve(v), 200));
  const reward = combineRewards([{ name: 'a', fn: slow(1) }, { name: 'b', fn: slow(0.25), weight: 4 }]);
  const t0 = performance.now();
  const scores = await batchReward(reward)(Array.from({ length: 8 }, (_, i) => `p${i}`), Array(8).fill('c'), Array(8).fill({}));
  assert.ok(performance.now() - t0 < 1000, `8 rows × 2 rewards of 200 ms took ${performance.now() - t0} ms: not concurrent`);
  assert.deepEqual(scores, { total: Array(8).fill(2), parts: { a: Array(8).fill(1), b: Array(8).fill(0.25) } });
  await assert.rejects(batchReward(combineRewards([{ name: 'n', fn: () => NaN }]))(['p', 'q'], ['a', 'b'], [{}, {}], ['t.jsonl:1', 't.jsonl:2']), /reward 'n' returned NaN for t.jsonl:1/);

  const bad = (v: unknown): RewardFn => (() => v) as unknown as RewardFn;
  await assert.rejects(combineRewards([{ name: 'mine', fn: bad(NaN) }])('What is 6 × 7?', '42', {}), /reward 'mine' returned NaN for the row whose prompt begins "What is 6 × 7\?"; a reward must be a finite number/);
  await assert.rejects(combineRewards([{ name: 'mine', fn: bad('1') }])('q', 'c', {}, 'train.jsonl line 3'), /reward 'mine' returned the string "1" for train.jsonl line 3/);
  await assert.rejects(combineRewards([{ name: 'mine', fn: bad(undefined) }])([{ role: 'user', content: 'hi there' }], 'c', {}), /returned undefined for the row whose prompt ends with a turn beginning "hi there"/);
  await assert.rejects(combineRewards([{ name: 'mine', fn: bad(Infinity) }])('q', 'c', {}, 'row 1'), /returned Infinity for row 1/);
  const throws: RewardFn = () => {
    throw new Error('boom');
  };
  await assert.rejects(combineRewards([{ name: 'mine', fn: throws }])('q', 'c', {}, 'row 2'), /reward 'mine' failed on row 2: boom/);
  await assert.rejects((await rewardsFromSpecs(['exact']))('q', 'c', { x: 1 }, 'row 9'), /reward 'exact' failed on row 9: the row has no 'answer' or 'completion' field/);
  // Booleans count as 1 and 0, as for eval's scorers.
  assert.deepEqual(await combineRewards([{ name: 't', fn: bad(true) }, { name: 'f', fn: bad(false) }])('q', 'c', {}), { total: 1, parts: { t: 1, f: 0 } });
});

test('user reward modules: .ts and .mjs, sync and async; missing, broken, defaultless and non-function modules fail clearly', async () => {
  const dir = tempDir();
  try {
    const file = (name: string, text: string): string => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const typed = file('len.ts', 'export default (prompt: string, completion: string, row: { max: number }): number => (completion.length <= row.max ? 1 : 0);\n');
    const asyncMjs = file('async.mjs', 'export default async (prompt, completion, row) => { await new Promise((r) => setTimeout(r, 10)); return completion === row.answer ? 1 : -1; };\n');
    const reward = await rewardsFromSpecs([`file:${typed}`, `file:${asyncMjs}@0.5`]);
    assert.deepEqual(await reward('q', 'yes', { max: 3, answer: 'yes' }), { total: 1.5, parts: { [`file:${typed}`]: 1, [`file:${asyncMjs}`]: 1 } });
    assert.equal((await reward('q', 'nope', { max: 3, answer: 'yes' })).total, -0.5);
    assert.equal(await (await loadRewardFunction(typed))('q', 'ab', { max: 1 }), 0);

    const missing = join(dir, 'missing.ts');
    await assert.rejects(rewardsFromSpecs([`file:${missing}`]), new RegExp(`reward spec 'file:${missing}': ${missing}: no such reward function module`));
    const syntax = file('syntax.ts', 'export default (p: string => 1;\n');
    await assert.rejects(loadRewardFunction(syntax), new RegExp(`${syntax}: cannot load reward function module: `));
    const throwsMjs = file('throws.mjs', 'throw new Error("no GPU here");\n');
    await assert.rejects(loadRewardFunction(throwsMjs), new RegExp(`${throwsMjs}: cannot load reward function module: no GPU here`));
    const noDefault = file('nodefault.mjs', 'export const reward = () => 1;\n');
    await assert.rejects(loadRewardFunction(noDefault), /must default-export a function \(prompt, completion, example\) => number; its default export is missing/);
    const noDefaultTs = file('nodefault.ts', 'export const reward = (): number => 1;\n');
    await assert.rejects(loadRewardFunction(noDefaultTs), /nodefault\.ts: the reward function module must default-export a function .*its default export is missing/);
    const notFn = file('notfn.ts', 'export default 42;\n');
    await assert.rejects(loadRewardFunction(notFn), /must default-export a function.*its default export is number/);
    const txt = file('reward.txt', 'x');
    await assert.rejects(loadRewardFunction(txt), /a reward function must be a \.js\/.*\.ts/);

    const nan = file('nan.ts', 'export default (): number => Number("x");\n');
    await assert.rejects((await rewardsFromSpecs([`file:${nan}`]))('q', 'c', {}, 'row 4'), new RegExp(`reward 'file:${nan}' returned NaN for row 4`));
    const str = file('str.mjs', 'export default () => "1";\n');
    await assert.rejects((await rewardsFromSpecs([`file:${str}`]))('q', 'c', {}, 'row 5'), /returned the string "1" for row 5; a reward must be a finite number/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sql: execution match on a small database, fences and extra statements, failing and runaway queries score 0', async () => {
  const dir = tempDir();
  const db = join(dir, 'music.sqlite');
  const conn = new Database(db);
  conn.exec(`CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER);
    INSERT INTO singer VALUES (1, 'Ana', 'France', 30), (2, 'Bo', 'Peru', 25), (3, 'Cy', 'France', 41);`);
  conn.close();
  const reward = await rewardsFromSpecs([`sql:${db}`], { sqlTimeoutMs: 1000 });
  try {
    const row = { query: "SELECT name FROM singer WHERE country = 'France'" };
    const cases: [string, number][] = [
      ["SELECT name FROM singer WHERE country = 'France' ORDER BY name DESC", 1],
      ["```sql\nSELECT name FROM singer WHERE country = 'France';\n```\nThe query filters by country.", 1],
      ["SELECT name FROM singer WHERE country = 'France'; SELECT 1", 1],
      ['SELECT name FROM singer', 0],
      ['SELEC name FROM singer', 0],
      ['I cannot answer that.', 0],
      ['', 0],
      ['WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c', 0],
      ["SELECT name FROM singer WHERE country = 'France'", 1],
    ];
    // All at once: the executor's one process must answer each query, not the one before it.
    const t0 = performance.now();
    const scores = await batchReward(reward)(cases.map(() => 'q'), cases.map(([completion]) => completion), cases.map(() => row));
    assert.deepEqual(scores.total, cases.map(([, want]) => want));
    assert.ok(performance.now() - t0 < 15_000, 'the runaway query was not stopped by the time limit');

    await assert.rejects(reward('q', 'SELECT 1', { query: 'SELECT nope FROM singer' }, 'row 7'), new RegExp(`reward 'sql:${db}' failed on row 7: gold query failed: no such column: nope`));
    await assert.rejects(reward('q', 'SELECT 1', { question: 'x' }, 'row 8'), /failed on row 8: the row has no 'query' or 'answer' or 'completion' field/);
    const folder = await rewardsFromSpecs([`sql:${dir}`]);
    await assert.rejects(folder('q', 'SELECT 1', { query: 'SELECT 1' }, 'row 9'), /failed on row 9: the row has no string 'db_id' field to pick its database in/);
    await assert.rejects(folder('q', 'SELECT 1', { query: 'SELECT 1', db_id: 'nope' }, 'row 10'), /failed on row 10: .*nope\.sqlite: no such database/);
    folder.close();
  } finally {
    reward.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sql on Spider dev: a right query scores 1, a wrong one 0, an invalid or runaway one 0 without hanging', { skip: sharedSkip }, async () => {
  const spider = sharedPath('text-to-sql/spider');
  const rows = JSON.parse(readFileSync(join(spider, 'dev.json'), 'utf8')) as Record<string, unknown>[];
  // dev.json row 4: "What is the average, minimum, and maximum age of all singers from France?" on concert_singer.
  const row = rows[4]!;
  assert.equal(row.query, "SELECT avg(age) ,  min(age) ,  max(age) FROM singer WHERE country  =  'France'");
  const t0 = performance.now();
  const reward = await rewardFunctions([`sql:${join(spider, 'database')}@2`, 'regex:/\\bSELECT\\b/i'], { sqlTimeoutMs: 2000 });
  try {
    const completions = [
      // Right: other spelling, aliases, a fence and a trailing ';'.
      '```sql\nSELECT AVG(s.age), MIN(s.age), MAX(s.age) FROM singer AS s WHERE s.country = "France";\n```',
      // Wrong: no filter on country.
      'SELECT avg(age), min(age), max(age) FROM singer',
      // Invalid: no such table.
      'SELECT avg(age) FROM singers',
      // Runaway: stopped by the time limit.
      'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT avg(age), min(x), max(x) FROM c, singer',
      // 6^7 rows: past eval's row limit, an error rather than memory exhausted.
      'SELECT * FROM singer AS a, singer AS b, singer AS c, singer AS d, singer AS e, singer AS f, singer AS g',
      String(rows[0]!.query),
    ];
    const examples = [row, row, row, row, row, rows[0]!];
    const scores = await reward(examples.map((r) => String(r.question)), completions, examples);
    const sqlName = `sql:${join(spider, 'database')}`;
    assert.deepEqual(reward.names, [sqlName, 'regex:/\\bSELECT\\b/i']);
    assert.deepEqual(scores.parts[sqlName], [1, 0, 0, 0, 0, 1]);
    assert.deepEqual(scores.total, [3, 1, 1, 1, 1, 3]);
    assert.ok(performance.now() - t0 < 20_000, 'the runaway query was not stopped by the time limit');
    // Spider's root folder works too (database/<db_id>/<db_id>.sqlite beneath it), as for whet eval --db.
    const fromRoot = await rewardsFromSpecs([`sql:${spider}`]);
    assert.equal((await fromRoot('q', String(rows[10]!.query), rows[10]!)).total, 1);
    fromRoot.close();
  } finally {
    reward.close();
  }
});
