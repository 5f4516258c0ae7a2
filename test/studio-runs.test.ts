// whet studio's runs and compare pages: a run's loss curve grows over server-sent events as its steps land (a run
// written line by line here, and a real `whet train` started during the test), a finished run's curves equal its
// metrics.jsonl, runs overlay; compare shows each model's answer with its score and reward and saves picks; and no request
// reads a file outside the folders given, by `..`, absolute paths or a symlink; the API key guards every route.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { STORIES_GGUF, sharedSkip } from './helpers/shared-data.ts';
import { loadRewardModel } from '../src/eval/reward.ts';
import { judgeAnswers } from '../src/eval/win-rate.ts';
import { chromiumSkip, launchBrowser, screenshots, startStudio, stopStudio, watchProblems } from './helpers/studio.ts';

const SHOTS = join(tmpdir(), 'whet-studio-screenshots');
type Line = Record<string, number>;
const readLines = (path: string): Line[] => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line);
const chartData = (page: Page, metric: string): Promise<{ x: number[]; y: (number | null)[][]; points: number }> =>
  page.$eval(`.chart[data-metric="${metric}"]`, (e) => ({ x: JSON.parse((e as HTMLElement).dataset.x ?? '[]'), y: JSON.parse((e as HTMLElement).dataset.y ?? '[]'), points: Number((e as HTMLElement).dataset.points ?? 0) }));

test('runs: curves grow as steps land (SSE), a finished run equals its metrics.jsonl, overlay; compare: scores per answer, the disagree filter, picks saved', { skip: sharedSkip || chromiumSkip, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'whet-studio-runs-'));
  const runs = join(dir, 'runs');
  mkdirSync(join(runs, 'fake'), { recursive: true });
  mkdirSync(SHOTS, { recursive: true });
  writeFileSync(join(runs, 'fake', 'metrics.jsonl'), '');
  writeFileSync(join(runs, 'fake', 'run.json'), JSON.stringify({ method: 'sft', model: 'fake.gguf', state: 'running', pid: process.pid, started: new Date().toISOString(), config: { steps: 4 } }));
  const data = join(dir, 'sft.jsonl');
  writeFileSync(data, Array.from({ length: 24 }, (_, i) => JSON.stringify({ prompt: `Q: what is ${i} plus ${i}? A:`, completion: ` ${2 * i}` })).join('\n') + '\n');

  const studio = await startStudio(['--runs', runs]);
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const problems = watchProblems(page, studio.url);
    const requests: string[] = [];
    page.on('request', (r) => requests.push(new URL(r.url()).pathname));

    // A run written here one step at a time: each line reaches the curve without reloading anything.
    await page.goto(`${studio.url}/#/run/fake`);
    await page.waitForSelector('#state');
    for (let step = 1; step <= 4; step++) {
      appendFileSync(join(runs, 'fake', 'metrics.jsonl'), JSON.stringify({ step, loss: 5 - step / 2, lr: 1e-3, grad_norm: 1 + step }) + '\n');
      await page.waitForFunction((n) => Number((document.querySelector('.chart[data-metric="loss"]') as HTMLElement | null)?.dataset.points ?? 0) === n, step, { timeout: 10_000 });
    }
    assert.deepEqual((await chartData(page, 'loss')).y, [[4.5, 4, 3.5, 3]]);
    assert.deepEqual(requests.filter((p) => p.startsWith('/api/runs')), ['/api/runs/events'], 'one event stream, no reading of the whole file again');

    // A real run started now: its page, opened while it trains, sees its curve grow.
    const out = join(runs, 'live');
    const trainer = spawn(process.execPath, ['bin/whet.js', 'train', '--model', STORIES_GGUF, '--data', data, '--out', out, '--steps', '300', '--batch-size', '16',
      '--eval-every', '50', '--holdout-fraction', '0.25', '--lr', '3e-3'], { env: { ...process.env, WHET_NO_PROGRESS: '1' }, stdio: 'ignore' });
    const trained = new Promise<number | null>((r) => trainer.on('exit', r));
    while (!((await (await fetch(`${studio.url}/api/runs`)).json()) as { runs: { id: string }[] }).runs.some((r) => r.id === 'live')) await page.waitForTimeout(200);
    await page.goto(`${studio.url}/#/run/live`);
    const seen = new Set<number>();
    let running = true;
    void trained.then(() => void (running = false));
    while (running) {
      const n = await page.$eval('.chart[data-metric="loss"]', (e) => Number((e as HTMLElement).dataset.points)).catch(() => 0);
      seen.add(n);
      await page.waitForTimeout(100);
    }
    assert.equal(await trained, 0);
    await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'finished', undefined, { timeout: 15_000 }).catch(async (e: Error) => {
      throw new Error(`${e.message}: the page says ${await page.$eval('main', (m) => m.textContent)}; run.json: ${readFileSync(join(out, 'run.json'), 'utf8')}`);
    });
    const lines = readLines(join(out, 'metrics.jsonl'));
    assert.equal(lines.length, 300);
    await page.waitForFunction(() => Number((document.querySelector('.chart[data-metric="loss"]') as HTMLElement).dataset.points) === 300, undefined, { timeout: 15_000 });
    const midway = [...seen].filter((n) => n > 0 && n < 300);
    assert.ok(midway.length >= 2, `the curve was seen growing while the run trained (point counts seen: ${[...seen].sort((a, b) => a - b).join(', ')})`);
    const loss = await chartData(page, 'loss');
    assert.deepEqual(loss.x, lines.map((l) => l.step));
    assert.deepEqual(loss.y, [lines.map((l) => l.loss)]);
    const holdout = await chartData(page, 'holdout_loss');
    const evals = lines.filter((l) => l.holdout_loss !== undefined);
    assert.equal(evals.length, 6);
    assert.deepEqual(holdout.x, evals.map((l) => l.step));
    assert.deepEqual(holdout.y, [evals.map((l) => l.holdout_loss)]);
    await screenshots(page, SHOTS, 'run');

    await page.goto(`${studio.url}/#/runs`);
    await page.waitForSelector('#runs tbody tr[data-run="live"]');
    const row = await page.$$eval('#runs tbody tr[data-run="live"] td', (tds) => tds.map((td) => td.textContent));
    const best = Math.min(...evals.map((l) => l.holdout_loss!));
    assert.deepEqual(row.slice(2, 7), ['sft', 'stories260K.gguf', 'finished', '300 / 300', best.toFixed(4)]);
    assert.equal(await page.$eval('#runs tbody tr[data-run="live"] td.model', (td) => td.getAttribute('title')), STORIES_GGUF);
    await screenshots(page, SHOTS, 'runs');
    await page.check('input[aria-label="overlay live"]');
    await page.check('input[aria-label="overlay fake"]');
    await page.click('text=Overlay 2 selected runs');
    await page.waitForSelector('.chart[data-metric="loss"]');
    const both = await chartData(page, 'loss');
    assert.equal(both.y.length, 2, 'one series per run');
    assert.deepEqual(both.y[0]!.filter((v) => v !== null), lines.map((l) => l.loss));
    assert.deepEqual(both.y[1]!.filter((v) => v !== null), [4.5, 4, 3.5, 3]);
    await screenshots(page, SHOTS, 'overlay');
    assert.deepEqual(problems, []);

    // Compare the base with the adapter just trained, scored by a scorer module the test also runs itself, and by a
    // reward model (a reward adapter trained here for a few steps) whose rewards the test computes through eval.
    const scorer = join(dir, 'scorer.mjs');
    writeFileSync(scorer, 'export default (prediction) => prediction.length % 2;\n');
    const prefs = join(dir, 'prefs.jsonl');
    writeFileSync(prefs, Array.from({ length: 8 }, (_, i) => JSON.stringify({ prompt: `Q: what is ${i} plus ${i}? A:`, chosen: ` ${2 * i}`, rejected: ' a cat' })).join('\n') + '\n');
    const rm = spawnSync(process.execPath, ['bin/whet.js', 'train', '--method', 'reward', '--model', STORIES_GGUF, '--data', prefs, '--out', join(dir, 'rm'), '--steps', '3', '--batch-size', '4', '--holdout-fraction', '0'], { encoding: 'utf8', env: { ...process.env, WHET_NO_PROGRESS: '1' } });
    assert.equal(rm.status, 0, rm.stderr);
    const picks = join(dir, 'picks.jsonl');
    const cmp = await startStudio(['--model', STORIES_GGUF, '--adapter', `live=${join(out, 'adapter')}`, '--holdout', data, '--metric', 'scorer', '--scorer', scorer, '--out', picks, '--max-tokens', '12',
      '--reward-model', STORIES_GGUF, '--reward-adapter', join(dir, 'rm', 'adapter')]);
    try {
      const cp = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      const cproblems = watchProblems(cp, cmp.url);
      await cp.goto(cmp.url);
      await cp.waitForSelector('#scores', { timeout: 60_000 });
      const rows = await cp.$$eval('.compare-row', (els) => els.map((e) => [...e.querySelectorAll('.side-by-side .cand')].map((c) => ({
        source: c.querySelector('strong')!.textContent, text: c.querySelector('.text')!.textContent, score: c.querySelector('.score')!.textContent,
      }))));
      assert.equal(rows.length, 24);
      for (const r of rows) {
        assert.deepEqual(r.map((a) => a.source), ['stories260K', 'live']);
        for (const a of r) assert.equal(a.score, ((a.text === '(empty answer)' ? 0 : a.text!.length) % 2).toFixed(3));
      }
      const mean = (j: number): number => rows.reduce((s, r) => s + Number(r[j]!.score), 0) / rows.length;
      assert.equal(await cp.$eval('#scores', (e) => e.textContent), `scorer: stories260K ${mean(0).toFixed(3)} · live ${mean(1).toFixed(3)}`);
      // Rewards: every answer of each model judged by the reward model, as whet eval --metric win-rate judges them.
      const shown = await cp.$$eval('.compare-row', (els) => els.map((e) => [...e.querySelectorAll('.side-by-side .cand .reward')].map((c) => c.textContent)));
      const judge = loadRewardModel(STORIES_GGUF, join(dir, 'rm', 'adapter'));
      const prompts = rows.map((_, i) => `Q: what is ${i} plus ${i}? A:`);
      const text = (t: string | null): string => (t === '(empty answer)' ? '' : t!);
      const { rewards } = judgeAnswers(judge, [...prompts, ...prompts], [...rows.map((r) => text(r[0]!.text)), ...rows.map((r) => text(r[1]!.text))], { maxLength: 512, batchRows: 16 });
      judge.model.dispose();
      rows.forEach((_, i) => assert.deepEqual(shown[i], [`reward ${rewards[i]!.toFixed(3)}`, `reward ${rewards[rows.length + i]!.toFixed(3)}`], `row ${i}`));
      const meanReward = (j: number): number => rewards.subarray(j * rows.length, (j + 1) * rows.length).reduce((a, v) => a + v, 0) / rows.length;
      assert.equal(await cp.$eval('#rewards', (e) => e.textContent), `mean reward: stories260K ${meanReward(0).toFixed(3)} · live ${meanReward(1).toFixed(3)}`);
      const disagree = rows.filter((r) => r[0]!.score !== r[1]!.score).length;
      await cp.check('#disagree');
      assert.equal(await cp.$$eval('.compare-row', (els) => els.length), disagree);
      await cp.uncheck('#disagree');
      const differ = rows.findIndex((r) => r[0]!.text !== r[1]!.text);
      assert.ok(differ >= 0, 'the adapter changed some answer');
      await cp.click(`.compare-row[data-row="${differ}"] .cand:nth-child(2) button`);
      await cp.waitForSelector(`.compare-row[data-row="${differ}"] .cand.picked`);
      const saved = readLines(picks) as unknown as { prompt: string; responses: string[]; ranking: number[]; model_of_response: string[]; annotator: string }[];
      assert.equal(saved.length, 1);
      assert.equal(saved[0]!.prompt, `Q: what is ${differ} plus ${differ}? A:`);
      assert.deepEqual(saved[0]!.model_of_response, ['live', 'stories260K']);
      assert.deepEqual(saved[0]!.ranking, [0, 1]);
      assert.equal(saved[0]!.responses[0], rows[differ]![1]!.text);
      await screenshots(cp, SHOTS, 'compare');
      assert.deepEqual(cproblems, []);
    } finally {
      await stopStudio(cmp);
    }
  } finally {
    await browser.close();
    await stopStudio(studio);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no request reads a file outside the folders given (.., absolute paths, a symlink out); the API key guards the studio', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'whet-studio-paths-'));
  const runs = join(dir, 'runs');
  const outside = join(dir, 'outside');
  mkdirSync(join(runs, 'r1'), { recursive: true });
  mkdirSync(outside);
  const SECRET = 'SECRET-abc123';
  writeFileSync(join(runs, 'r1', 'metrics.jsonl'), JSON.stringify({ step: 1, loss: 2 }) + '\n');
  writeFileSync(join(runs, 'r1', 'eval-report.html'), '<p>report</p>');
  writeFileSync(join(outside, 'metrics.jsonl'), JSON.stringify({ step: 1, loss: 2, note: SECRET }) + '\n');
  writeFileSync(join(outside, 'secret.txt'), SECRET);
  symlinkSync(outside, join(runs, 'link'));
  symlinkSync(join(outside, 'secret.txt'), join(runs, 'r1', 'leak.html'));
  const studio = await startStudio(['--runs', runs, '--api-key', 'k3y']);
  try {
    const auth = { authorization: 'Bearer k3y' };
    const get = (path: string, headers: Record<string, string> = auth): Promise<Response> => fetch(`${studio.url}${path}`, { headers });

    assert.equal((await get('/api/runs', {})).status, 401);
    assert.equal((await get('/', {})).status, 401);
    assert.equal((await get('/api/runs', { authorization: 'Bearer nope' })).status, 401);
    const listed = (await (await get('/api/runs')).json()) as { runs: { id: string; reports: string[] }[] };
    assert.deepEqual(listed.runs.map((r) => r.id), ['r1'], 'the symlinked folder is not listed');
    assert.deepEqual(listed.runs[0]!.reports, ['eval-report.html']);
    assert.equal(await (await get('/api/runs/file?run=r1&name=eval-report.html')).text(), '<p>report</p>');
    // The page, opened once with ?key=, gets a cookie that opens the rest (EventSource cannot send a header).
    const first = await get('/?key=k3y', {});
    assert.equal(first.status, 200);
    const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
    assert.equal((await get('/api/runs', { cookie })).status, 200);
    assert.equal((await get('/api/runs', { cookie: 'whet_studio=forged' })).status, 401);

    const q = encodeURIComponent;
    const bad = [
      `/api/runs/metrics?run=${q('../outside')}`, `/api/runs/metrics?run=${q(outside)}`, `/api/runs/metrics?run=${q('r1/../../outside')}`, `/api/runs/metrics?run=link`,
      `/api/runs/events?run=${q('../outside')}`, `/api/runs/events?run=${q(outside)}`, `/api/runs/events?run=link`,
      `/api/runs/file?run=r1&name=${q('../../outside/secret.txt')}`, `/api/runs/file?run=r1&name=${q(join(outside, 'secret.txt'))}`, `/api/runs/file?run=r1&name=leak.html`,
      `/api/runs/file?run=r1&name=${q('../r1/eval-report.html')}`, `/api/runs/file?run=${q('..')}&name=${q('outside/secret.txt')}`, `/api/runs/file?run=link&name=secret.txt`,
      '/assets/..%2F..%2Fpackage.json', `/assets/${q(join(outside, 'secret.txt'))}`, '/assets/../../package.json', '/assets/index.html',
    ];
    for (const path of bad) {
      const r = await get(path);
      const body = await r.text();
      assert.equal(r.status, 404, `${path}: ${r.status} ${body}`);
      assert.ok(!body.includes(SECRET), `${path} leaked the file`);
    }
  } finally {
    await stopStudio(studio);
    rmSync(dir, { recursive: true, force: true });
  }
});
