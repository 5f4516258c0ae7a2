// The demo's generated task: the same seed gives the same files, every gold query runs and returns rows (and every
// other engineer's rendering gives the same result), the split keeps each phrasing template on one side, and the
// house-style checker accepts house SQL and rejects each generic variant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { generateDemoData, type DemoData } from '../src/demo/dataset.ts';
import { GENERIC_STYLES, HOUSE_STYLE, houseStyleViolations, isHouseStyle, renderSql, type SqlStyle } from '../src/demo/sql-style.ts';
import { SKELETONS, type Slots } from '../src/demo/templates.ts';
import { hasTopLevelOrderBy, rowKey, sameResult } from '../src/eval/sql-compare.ts';

const OPTS = { seed: 7, trainSize: 400, holdoutSize: 120, pairCount: 100, houseShare: 0.35 };

function generate(seed = OPTS.seed): { dir: string; data: DemoData } {
  const dir = mkdtempSync(join(tmpdir(), 'whet-demo-data-'));
  return { dir, data: generateDemoData(dir, { ...OPTS, seed }) };
}

function dump(db: string): string {
  const d = new Database(db, { readonly: true });
  try {
    return ['customers', 'products', 'orders', 'order_items'].map((t) => JSON.stringify(d.prepare(`SELECT * FROM ${t} ORDER BY rowid`).raw().all())).join('\n');
  } finally {
    d.close();
  }
}

test('the same seed gives the same database and files; another seed gives other ones', () => {
  const a = generate();
  const b = generate();
  const c = generate(OPTS.seed + 1);
  try {
    for (const f of ['train', 'holdout', 'pairs'] as const) assert.equal(readFileSync(a.data.files[f], 'utf8'), readFileSync(b.data.files[f], 'utf8'), f);
    assert.equal(dump(a.data.db), dump(b.data.db));
    assert.notEqual(readFileSync(a.data.files.train, 'utf8'), readFileSync(c.data.files.train, 'utf8'));
    assert.notEqual(dump(a.data.db), dump(c.data.db));
    const db = new Database(a.data.db, { readonly: true });
    const count = (t: string): number => db.prepare(`SELECT COUNT(*) FROM ${t}`).pluck().get() as number;
    assert.deepEqual([count('customers'), count('products'), count('orders')], [120, 36, 600]);
    db.close();
  } finally {
    for (const x of [a, b, c]) rmSync(x.dir, { recursive: true, force: true });
  }
});

test('every gold query runs and returns rows; training answers and rejected answers give the gold result', () => {
  const { dir, data } = generate();
  try {
    const db = new Database(data.db, { readonly: true });
    const rows = (sql: string): string[] => db.prepare(sql).raw().all().map((r) => rowKey(r as unknown[]));
    for (const r of [...data.train, ...data.holdout]) {
      const gold = rows(r.houseSql);
      assert.ok(gold.length > 0, `no rows: ${r.houseSql}`);
      assert.ok(sameResult(gold, rows(r.sql), hasTopLevelOrderBy(r.houseSql)), `${r.sql} differs from ${r.houseSql}`);
    }
    for (const p of data.pairs) {
      assert.notEqual(p.chosen, p.rejected);
      assert.ok(sameResult(rows(p.chosen), rows(p.rejected), hasTopLevelOrderBy(p.chosen)), `${p.rejected} differs from ${p.chosen}`);
    }
    db.close();
    // The training data mixes styles: some house, most not.
    const house = data.train.filter((r) => r.sql === r.houseSql).length / data.train.length;
    assert.ok(house > 0.2 && house < 0.5, `house share of training answers ${house}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the split is by phrasing: no template and no request wording on both sides, every skeleton held out', () => {
  const { dir, data } = generate();
  try {
    const train = new Set(data.trainTemplates);
    assert.deepEqual(data.holdoutTemplates.filter((t) => train.has(t)), []);
    // The wording itself: a holdout request with its values blanked never matches a training one.
    const blank = (s: string): string => s.replace(/\d+/g, '#');
    const phrasing = (r: { template: string }): string => {
      const [id, i] = r.template.split('#');
      return SKELETONS.find((s) => s.id === id)!.phrasings[Number(i)]!;
    };
    const trainWordings = new Set(data.train.map(phrasing));
    for (const r of data.holdout) assert.ok(!trainWordings.has(phrasing(r)), r.request);
    assert.ok(!data.holdout.some((h) => data.train.some((t) => blank(t.request) === blank(h.request))));
    assert.equal(new Set(data.holdout.map((r) => r.skeleton)).size, SKELETONS.length);
    assert.equal(new Set(data.holdout.map((r) => r.request)).size, data.holdout.length, 'holdout requests are distinct');
    assert.ok(data.trainTemplates.length >= 40, `${data.trainTemplates.length} training phrasings`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const SLOTS: Slots = { city: 'Paris', category: 'Books', status: 'shipped', year: 2023, n: 3 };

test('house-style checker: hand-written house SQL passes, each broken rule is named', () => {
  assert.deepEqual(houseStyleViolations("select c.name from customers c where c.city = 'Paris'"), []);
  assert.deepEqual(houseStyleViolations("select count(*) as n_orders from orders o where o.order_date between '2023-01-01' and '2023-12-31'"), []);
  assert.deepEqual(houseStyleViolations("select c.name from customers c where c.city = 'SELECT * FROM x'"), [], 'literals are not looked into');
  const cases: [string, string][] = [
    ["SELECT c.name FROM customers c WHERE c.city = 'Paris'", 'keywords'],
    ["select c.name from customers c Where c.city = 'Paris'", 'keywords'],
    ["select name from customers where city = 'Paris'", 'aliases'],
    ["select c.name from customers as c where c.city = 'Paris'", 'aliases'],
    ["select name from customers c where c.city = 'Paris'", 'qualified-columns'],
    ["select customers.name from customers c where c.city = 'Paris'", 'qualified-columns'],
    ["select * from customers c where c.city = 'Paris'", 'explicit-columns'],
    ["select count(*) from customers c where c.city = 'Paris'", 'aggregate-names'],
    ["select count(*) as n from orders o where strftime('%Y', o.order_date) = '2023'", 'dates'],
    ['', 'one-select'],
    ['The customers in Paris are Anna and Ben.', 'one-select'],
    ['select c.name from customers c; delete from customers c', 'one-select'],
  ];
  for (const [sql, rule] of cases) assert.ok(houseStyleViolations(sql).includes(rule as never), `${sql}: ${houseStyleViolations(sql)} lacks ${rule}`);
});

test('house-style checker: every skeleton in house style passes; each generic variant of it is rejected', () => {
  const variants: [string, Partial<SqlStyle>][] = [['upper-case keywords', { keywords: 'upper' }], ['no aliases', { aliases: false }], ['unnamed aggregates', { aggregateNames: false }], ['strftime dates', { dates: 'strftime' }]];
  for (const s of SKELETONS) {
    const q = s.query(SLOTS);
    const house = renderSql(q, HOUSE_STYLE);
    assert.ok(isHouseStyle(house), `${s.id}: ${house} → ${houseStyleViolations(house)}`);
    for (const [name, change] of variants) {
      const sql = renderSql(q, { ...HOUSE_STYLE, ...change });
      // A variant only differs where the query has what it changes (aggregates, dates).
      if (sql === house) continue;
      assert.ok(!isHouseStyle(sql), `${s.id} with ${name} passed: ${sql}`);
    }
    for (const style of GENERIC_STYLES) {
      const sql = renderSql(q, style);
      if (sql !== house) assert.ok(!isHouseStyle(sql), `${s.id}: generic ${sql} passed`);
    }
  }
  // Every kind of variant occurs somewhere (the skip above must not hide one).
  for (const [name, change] of variants) assert.ok(SKELETONS.some((s) => renderSql(s.query(SLOTS), { ...HOUSE_STYLE, ...change }) !== renderSql(s.query(SLOTS), HOUSE_STYLE)), name);
});
