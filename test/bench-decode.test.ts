// whet bench decode --anchor: our runs alternate with llama.cpp's and each side's median round is compared.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { STORIES_GGUF, sharedSkip } from './helpers/shared-data.ts';
import { loadAddon } from '../src/backend/addon.ts';

const root = path.resolve(import.meta.dirname, '..');
const skip = sharedSkip || (loadAddon() === null && 'the native addon is not built');

test('bench decode --anchor compares the median of rounds alternating with a llama.cpp run', { skip }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-anchor-'));
  const log = path.join(dir, 'calls.log');
  // Stands in for bench_llamacpp.mjs: each call logs the time and prints this round's figures (medians 200 and 20).
  const fake = path.join(dir, 'fake-llamacpp.mjs');
  writeFileSync(fake, `import { appendFileSync, existsSync, readFileSync } from 'node:fs';
const n = existsSync(${JSON.stringify(log)}) ? readFileSync(${JSON.stringify(log)}, 'utf8').trim().split('\\n').length : 0;
appendFileSync(${JSON.stringify(log)}, Date.now() + '\\n');
const pp = [100, 300, 200][n % 3], tg = [30, 10, 20][n % 3];
console.log(JSON.stringify({ pp_tok_s: pp, tg_d0_tok_s: tg, peak_rss_MiB: 100 + n }));
`);
  const t0 = Date.now();
  const run = spawnSync(process.execPath, [path.join(root, 'bin/whet.js'), 'bench', 'decode', '--model', STORIES_GGUF, '--anchor', dir, '--json'], {
    encoding: 'utf8', timeout: 600_000, env: { ...process.env, WHET_ANCHOR_SCRIPT: fake },
  });
  assert.equal(run.status, 0, run.stderr);
  const calls = readFileSync(log, 'utf8').trim().split('\n').map(Number);
  assert.equal(calls.length, 3, 'three llama.cpp rounds');
  // Alternating: our run comes before each llama.cpp round, so none of them starts right after the previous one.
  assert.ok(calls[0]! - t0 > 200, 'our first round runs before llama.cpp\'s');
  for (let i = 1; i < 3; i++) assert.ok(calls[i]! - calls[i - 1]! > 200, `our round ${i + 1} runs between llama.cpp's`);
  const rows = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>);
  const ours = rows.filter((r) => r.op === 'decode');
  assert.deepEqual(ours.map((r) => r.phase), ['prefill', 'decode', 'decode-batch']);
  const vs = rows.filter((r) => r.op === 'decode-vs-llamacpp');
  assert.equal(vs.length, 2);
  for (const [phase, median] of [['prefill', 200], ['decode', 20]] as const) {
    const r = vs.find((x) => x.phase === phase)!;
    assert.equal(r.llamacpp_tokens_per_s, median, `${phase}: llama.cpp's median round`);
    assert.equal(r.rounds, 3);
    assert.equal(r.tokens_per_s, ours.find((x) => x.phase === phase)!.tokens_per_s);
    assert.ok(Math.abs((r.ratio as number) - (r.tokens_per_s as number) / median) < 1e-3, `${phase} ratio`);
    assert.equal(r.llamacpp_peak_rss_mb, Math.round(102 * 1.048576), 'the largest peak RSS of the rounds');
  }
});
