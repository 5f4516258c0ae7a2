// Dataset readers: every row format, JSONL/JSON/CSV containers, errors naming file/line/field, deduplication and the seeded split.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readDataset, readExamples, splitExamples } from '../src/data/read.ts';
import { parseRow, type Example } from '../src/data/formats.ts';
import { sharedPath, sharedSkip } from './helpers/shared-data.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'whet-data-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Buffer): string {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
}

const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

test('each row format normalises to an Example', () => {
  const cases: [unknown, string, Example][] = [
    [{ prompt: 'Q: 1+1=', completion: ' 2' }, 'prompt-completion', { kind: 'completion', prompt: 'Q: 1+1=', completion: ' 2' }],
    [
      { messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'u' }, { role: 'assistant', content: 'a', weight: 0 }, { role: 'user', content: 'u2' }, { role: 'assistant', content: 'b', weight: 1 }] },
      'messages',
      { kind: 'chat', messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'u' }, { role: 'assistant', content: 'a', weight: 0 }, { role: 'user', content: 'u2' }, { role: 'assistant', content: 'b', weight: 1 }] },
    ],
    [
      { instruction: 'Translate', input: 'chat', output: 'cat', system: 'Be exact.' },
      'alpaca',
      { kind: 'chat', messages: [{ role: 'system', content: 'Be exact.' }, { role: 'user', content: 'Translate\n\nchat' }, { role: 'assistant', content: 'cat' }] },
    ],
    [{ instruction: 'Say hi', input: '', output: 'hi' }, 'alpaca', { kind: 'chat', messages: [{ role: 'user', content: 'Say hi' }, { role: 'assistant', content: 'hi' }] }],
    [
      { conversations: [{ from: 'system', value: 's' }, { from: 'human', value: 'h' }, { from: 'gpt', value: 'g' }] },
      'sharegpt',
      { kind: 'chat', messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'h' }, { role: 'assistant', content: 'g' }] },
    ],
    [{ text: 'Plain text.' }, 'text', { kind: 'completion', prompt: '', completion: 'Plain text.' }],
    [
      { db_id: 'concert_singer', question: 'How many singers?', query: 'SELECT count(*) FROM singer', query_toks: [] },
      'spider',
      { kind: 'completion', prompt: 'How many singers?', completion: 'SELECT count(*) FROM singer', meta: { db_id: 'concert_singer' } },
    ],
    [
      { prompt: [{ role: 'user', content: 'q' }], completion: [{ role: 'assistant', content: 'a' }] },
      'prompt-messages',
      { kind: 'chat', messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] },
    ],
  ];
  for (const [row, format, example] of cases) {
    const got = parseRow(row);
    assert.equal(got.format, format, JSON.stringify(row));
    assert.deepEqual(got.example, example);
  }
});

test('JSONL, JSON arrays, gzip and CSV with quoted commas and newlines all read', () => {
  const rows = [{ prompt: 'a', completion: 'b' }, { instruction: 'i', output: 'o' }];
  const a = readDataset(file('a.jsonl', jsonl(rows)));
  const b = readDataset(file('b.json', JSON.stringify(rows, null, 2)));
  const c = readDataset(file('c.json', jsonl(rows))); // .json files are often JSON Lines
  const d = readDataset(file('d.jsonl.gz', gzipSync(jsonl(rows))));
  for (const ds of [a, b, c, d]) {
    assert.equal(ds.errorCount, 0, ds.errors.join('\n'));
    assert.deepEqual(ds.examples, a.examples);
    assert.equal(ds.formats['prompt-completion'], 1);
    assert.equal(ds.formats.alpaca, 1);
  }
  const csv = file('e.csv', 'prompt,completion\n"Hello, world","line one\nline two, with ""quotes"""\n\nplain,row\n');
  const e = readDataset(csv);
  assert.equal(e.errorCount, 0, e.errors.join('\n'));
  assert.deepEqual(e.examples, [
    { kind: 'completion', prompt: 'Hello, world', completion: 'line one\nline two, with "quotes"' },
    { kind: 'completion', prompt: 'plain', completion: 'row' },
  ]);
  assert.deepEqual(e.sources.map((s) => s.where), ['e.csv:2', 'e.csv:5'], 'a record starts on the line it starts on, after a multi-line one too');
  // A messages column holds JSON; TSV works the same way.
  const tsv = readDataset(file('f.tsv', `messages\n${JSON.stringify([{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a\tb' }]).replaceAll('"', '""').replace(/^/, '"').replace(/$/, '"')}\n`));
  assert.equal(tsv.errorCount, 0, tsv.errors.join('\n'));
  assert.deepEqual(tsv.examples[0], { kind: 'chat', messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a\tb' }] });
});

test('errors name the file, the line (or array element) and the field', () => {
  const bad = file(
    'bad.jsonl',
    [
      JSON.stringify({ prompt: 'ok', completion: 'fine' }),
      '{"prompt": "broken',
      JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }, { role: 'robot', content: 'x' }] }),
      '',
      JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'user', content: 7 }] }),
      JSON.stringify({ messages: [{ role: 'user', content: 'q', weight: 0 }, { role: 'assistant', content: 'a' }] }),
      JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a', weight: 2 }] }),
      JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a', weight: 0 }] }),
      JSON.stringify({ conversations: [{ from: 'alien', value: 'x' }] }),
      JSON.stringify({ instruction: 'i' }),
      JSON.stringify({ foo: 1, bar: 2 }),
      JSON.stringify([1, 2]),
    ].join('\n'),
  );
  const ds = readDataset(bad);
  assert.equal(ds.examples.length, 1);
  assert.equal(ds.rows, 11, 'blank lines are not rows');
  assert.equal(ds.errorCount, 10);
  const expected = [
    /^bad\.jsonl:2: not valid JSON/,
    /^bad\.jsonl:3: field 'messages\[2\]\.role': expected one of system, user, assistant$/,
    /^bad\.jsonl:5: field 'messages\[1\]\.content': expected a string, got number$/,
    /^bad\.jsonl:6: field 'messages\[0\]\.weight': only assistant turns take a weight$/,
    /^bad\.jsonl:7: field 'messages\[1\]\.weight': expected 0 or 1$/,
    /^bad\.jsonl:8: field 'messages': every assistant turn has weight 0/,
    /^bad\.jsonl:9: field 'conversations\[0\]\.from': expected one of human/,
    /^bad\.jsonl:10: field 'output': missing$/,
    /^bad\.jsonl:11: unrecognised row \(fields foo, bar\)/,
    /^bad\.jsonl:12: expected an object, got an array$/,
  ];
  expected.forEach((re, i) => assert.match(ds.errors[i]!, re));
  assert.throws(() => readExamples(bad), (e: Error) => e.name === 'WhetError' && /10 bad rows in .*bad\.jsonl/.test(e.message) && e.message.includes('bad.jsonl:3:'));

  const arr = readDataset(file('arr.json', JSON.stringify([{ prompt: 'a', completion: 'b' }, { prompt: 'a', completion: 5 }])));
  assert.deepEqual(arr.errors, ["arr.json[1]: field 'completion': expected a string, got number"]);
  assert.match(readDataset(file('obj.json', '{"a": 1')).errors[0]!, /^obj\.json:1: not valid JSON/);
  assert.throws(() => readDataset(file('arr-broken.json', '[{"a": 1}')), /arr-broken\.json: not valid JSON/);
  assert.throws(() => readDataset(path.join(dir, 'missing.jsonl')), /no such file/);
  assert.throws(() => readDataset(file('single.json', '{\n  "data": []\n}\n')), /single\.json: holds a single JSON object/);
  assert.throws(() => readDataset(file('bad.csv', 'prompt,completion\na,b,c\n')), /bad\.csv:2: not valid CSV/);
});

test('exact duplicates are dropped and counted; blank text rows are skipped', () => {
  const rows = [
    { prompt: 'p', completion: 'c' },
    { text: '' },
    { prompt: 'p', completion: 'c' },
    { prompt: 'p', completion: 'c2' },
    { text: '   ' },
    { question: 'q', query: 'SELECT 1', db_id: 'x' },
    { question: 'q', query: 'SELECT 1', db_id: 'y' },
    { question: 'q', query: 'SELECT 1', db_id: 'x' },
  ];
  const ds = readDataset(file('dup.jsonl', jsonl(rows)));
  assert.equal(ds.duplicates, 2);
  assert.equal(ds.blank, 2);
  assert.equal(ds.examples.length, 4, 'the same question on another database is not a duplicate');
  assert.deepEqual(ds.sources.map((s) => s.where), ['dup.jsonl:1', 'dup.jsonl:4', 'dup.jsonl:6', 'dup.jsonl:7']);
  const all = readDataset(file('dup.jsonl', jsonl(rows)), { dedupe: false });
  assert.equal(all.duplicates, 0);
  assert.equal(all.examples.length, 6, 'evaluation keeps duplicates so rows line up with predictions');
});

test('the split is deterministic, disjoint, complete and seed-dependent', () => {
  const items = Array.from({ length: 200 }, (_, i) => i);
  const a = splitExamples(items, 0.1, 7);
  const b = splitExamples(items, 0.1, 7);
  assert.deepEqual(a, b);
  assert.equal(a.holdout.length, 20);
  assert.equal(a.train.length, 180);
  assert.deepEqual([...a.train, ...a.holdout].sort((x, y) => x - y), items, 'every item lands in exactly one part');
  assert.ok(a.holdout.every((x, i) => i === 0 || x > a.holdout[i - 1]!), 'parts keep file order');
  assert.notDeepEqual(splitExamples(items, 0.1, 8).holdout, a.holdout);
  assert.equal(splitExamples([1, 2, 3], 0.01, 0).holdout.length, 1, 'a positive fraction holds out at least one');
  assert.equal(splitExamples([1, 2], 0.9, 0).train.length, 1, 'and never everything');
  assert.throws(() => splitExamples(items, 1, 0), /holdout fraction/);
});

test('real data: the Alpaca demo and Spider dev read cleanly', { skip: sharedSkip }, () => {
  const alpaca = readDataset(sharedPath('sft/llamafactory_alpaca_en_demo.json'));
  assert.equal(alpaca.errorCount, 0, alpaca.errors.join('\n'));
  assert.equal(alpaca.rows, 999);
  assert.equal(alpaca.formats.alpaca, 999);
  assert.equal(alpaca.examples.length + alpaca.duplicates, 999);
  const spider = readDataset(sharedPath('text-to-sql/spider/dev.json'));
  assert.equal(spider.errorCount, 0);
  assert.equal(spider.formats.spider, 1034);
  assert.equal(spider.examples[0]!.meta?.db_id, 'concert_singer');
});
