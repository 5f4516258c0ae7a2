// SQL execution accuracy on a small SQLite database built here: multiset vs ORDER BY comparison, numbers, errors, time limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { databaseFor, executionAccuracy } from '../src/eval/sql.ts';
import { hasTopLevelOrderBy, rowKey, sameResult } from '../src/eval/sql-compare.ts';

function makeDb(path: string): void {
  const db = new Database(path);
  db.exec(`
    CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER, worth REAL);
    INSERT INTO singer VALUES (1, 'Ana', 'France', 30, 1.0), (2, 'Bo', 'Peru', 25, 2.5), (3, 'Cy', 'France', 41, 4.0), (4, 'Di', 'Chile', 25, 1.0);
  `);
  db.close();
}

test('top-level ORDER BY detection skips subqueries, windows, literals and comments', () => {
  assert.equal(hasTopLevelOrderBy('SELECT name FROM singer ORDER BY age'), true);
  assert.equal(hasTopLevelOrderBy('select name from singer order\n  by age desc limit 1'), true);
  assert.equal(hasTopLevelOrderBy('SELECT a FROM t UNION SELECT b FROM u ORDER BY 1'), true);
  assert.equal(hasTopLevelOrderBy('SELECT name FROM (SELECT * FROM singer ORDER BY age)'), false);
  assert.equal(hasTopLevelOrderBy('SELECT rank() OVER (ORDER BY age) FROM singer'), false);
  assert.equal(hasTopLevelOrderBy("SELECT name FROM singer WHERE name = 'x order by y'"), false);
  assert.equal(hasTopLevelOrderBy('SELECT "order by" FROM singer -- order by age'), false);
  assert.equal(hasTopLevelOrderBy("SELECT 'it''s' /* order by */ FROM singer"), false);
  assert.equal(hasTopLevelOrderBy('SELECT border, bye FROM t'), false);
});

test('row comparison: multisets, ordered lists, numbers normalised, types kept apart', () => {
  const k = (rows: unknown[][]): string[] => rows.map(rowKey);
  assert.equal(sameResult(k([[1, 'a'], [2, 'b']]), k([[2, 'b'], [1, 'a']]), false), true);
  assert.equal(sameResult(k([[1, 'a'], [2, 'b']]), k([[2, 'b'], [1, 'a']]), true), false);
  // Multisets, not sets: a duplicated row must appear as often.
  assert.equal(sameResult(k([[1], [1], [2]]), k([[1], [2], [2]]), false), false);
  assert.equal(sameResult(k([[1], [1]]), k([[1]]), false), false);
  assert.equal(sameResult(k([[1]]), k([[1.0]]), false), true);
  assert.equal(sameResult(k([[1]]), k([[1n]]), false), true);
  assert.equal(sameResult(k([[0.1 + 0.2]]), k([[0.3]]), false), true);
  assert.equal(sameResult(k([[1234567890123]]), k([[1234567890124]]), false), false);
  assert.equal(sameResult(k([[1.5]]), k([[1.5000001]]), false), false);
  assert.equal(sameResult(k([[1]]), k([['1']]), false), false);
  assert.equal(sameResult(k([[null]]), k([['']]), false), false);
  assert.equal(sameResult(k([[1, 2]]), k([[2, 1]]), false), false);
});

test('execution accuracy: order-insensitive unless ORDER BY, 1 == 1.0, errors and a runaway query', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'whet-sql-'));
  try {
    const db = join(dir, 'music.sqlite');
    makeDb(db);
    const items = [
      // 0: same rows, other order, no ORDER BY in gold → correct.
      { gold: "SELECT name FROM singer WHERE country = 'France'", prediction: "SELECT name FROM singer WHERE country = 'France' ORDER BY name DESC" },
      // 1: gold orders by age: the prediction's order differs → wrong.
      { gold: 'SELECT name FROM singer ORDER BY age, name', prediction: 'SELECT name FROM singer ORDER BY name' },
      // 2: same order → correct.
      { gold: 'SELECT name FROM singer ORDER BY age, name', prediction: 'SELECT name FROM singer ORDER BY age ASC, id ASC' },
      // 3: an integer against a real (30 vs 30.0) → correct.
      { gold: 'SELECT max(age) FROM singer WHERE country = "France"', prediction: 'SELECT max(age) * 1.0 FROM singer WHERE country = \'France\'' },
      // 4: different values → wrong.
      { gold: 'SELECT count(*) FROM singer', prediction: 'SELECT count(*) FROM singer WHERE age > 25' },
      // 5: syntax error → prediction error (wrong).
      { gold: 'SELECT name FROM singer', prediction: 'SELEC name FROM singer' },
      // 6: missing table → prediction error.
      { gold: 'SELECT name FROM singer', prediction: 'SELECT name FROM singers' },
      // 7: a write on a read-only database → prediction error, and the data is untouched (item 9 checks).
      { gold: 'SELECT name FROM singer', prediction: "INSERT INTO singer VALUES (5, 'Ed', 'Peru', 50, 0.0)" },
      // 8: a recursive CTE that never ends → stopped by the time limit.
      { gold: 'SELECT 1', prediction: 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c' },
      // 9: runs after the runaway one (a fresh query process) → correct.
      { gold: 'SELECT count(*) FROM singer', prediction: 'SELECT count(id) FROM singer' },
      // 10: the gold query fails → a dataset error, left out of the score.
      { gold: 'SELECT nope FROM singer', prediction: 'SELECT 1' },
      // 11: an empty prediction → prediction error.
      { gold: 'SELECT 1', prediction: '   ' },
    ].map((x) => ({ ...x, db }));
    const r = await executionAccuracy(items, { timeoutMs: 1000 });
    assert.deepEqual(
      r.perExample.map((x) => x.outcome),
      ['correct', 'wrong', 'correct', 'correct', 'wrong', 'prediction-error', 'prediction-error', 'prediction-error', 'timeout', 'correct', 'dataset-error', 'prediction-error'],
    );
    assert.equal(r.n, 11);
    assert.equal(r.correct, 4);
    assert.equal(r.score, 4 / 11);
    assert.equal(r.predictionErrors, 4);
    assert.equal(r.timeouts, 1);
    assert.equal(r.datasetErrors.length, 1);
    assert.equal(r.datasetErrors[0]!.index, 10);
    assert.match(r.datasetErrors[0]!.error, /no such column: nope/);
    assert.match(r.perExample[5]!.error!, /syntax error/);
    assert.match(r.perExample[8]!.error!, /timed out after 1000 ms/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('too many rows is a prediction error, not a memory blow-up', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'whet-sql-'));
  try {
    const db = join(dir, 'm.sqlite');
    makeDb(db);
    const r = await executionAccuracy([{ db, gold: 'SELECT 1', prediction: 'SELECT * FROM singer a, singer b, singer c' }], { maxRows: 50 });
    assert.equal(r.perExample[0]!.outcome, 'prediction-error');
    assert.match(r.perExample[0]!.error!, /more than 50 rows/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('databaseFor: a file for all examples, or Spider folders by db_id', () => {
  const dir = mkdtempSync(join(tmpdir(), 'whet-sql-'));
  try {
    mkdirSync(join(dir, 'database', 'music'), { recursive: true });
    const file = join(dir, 'database', 'music', 'music.sqlite');
    makeDb(file);
    assert.equal(databaseFor(file, undefined, 'x'), file);
    assert.equal(databaseFor(join(dir, 'database'), 'music', 'x'), file);
    assert.equal(databaseFor(dir, 'music', 'x'), file);
    assert.throws(() => databaseFor(dir, undefined, 'example 3'), /example 3: no db_id/);
    assert.throws(() => databaseFor(dir, '../etc', 'example 3'), /not a plain name/);
    assert.throws(() => databaseFor(join(dir, 'nope'), 'music', 'x'), /no such database/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
