// whet studio's ranking page in headless Chromium on stories260K: five prompts ranked by keyboard survive a SIGKILL
// and the restart resumes at the sixth; the file trains `whet train --method reward` and `dpo` as it is; two people
// ranking at once never hold the same prompt, and the agreement shown is Kendall's tau of their rankings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { STORIES_GGUF, sharedSkip } from './helpers/shared-data.ts';
import { chromiumSkip, launchBrowser, screenshots, startStudio, stopStudio, watchProblems } from './helpers/studio.ts';

const skip = sharedSkip || chromiumSkip;
const PROMPTS = ['Once upon a time', 'The little cat', 'Lily went to the park', 'One day, a dog', 'The sun was hot', 'Tom and Sue played', 'A big tree stood', 'The bird sang'];
/** Screenshots stay here after the test for a person to look at. */
const SHOTS = join(tmpdir(), 'whet-studio-screenshots');

interface Row { prompt: string; responses: string[]; ranking: number[]; annotator: string; model_of_response: string[]; time: string }

function setup(): { dir: string; prompts: string; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'whet-studio-rank-'));
  const prompts = join(dir, 'prompts.jsonl');
  writeFileSync(prompts, PROMPTS.map((p) => JSON.stringify({ prompt: p })).join('\n') + '\n');
  return { dir, prompts, out: join(dir, 'rankings.jsonl') };
}

const readRows = (path: string): Row[] => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Row);
const shownIndex = (page: Page): Promise<number> => page.$eval('#item', (e) => Number(e.getAttribute('data-index')));

/** Presses the candidate keys given (1-based, best first), then Enter; waits for the next prompt. Returns the order saved. */
async function rankByKeys(page: Page, keys: number[]): Promise<{ index: number; order: number[] }> {
  const index = await shownIndex(page);
  const k = await page.$$eval('.candidate', (els) => els.length);
  const pressed = keys.filter((n) => n <= k);
  for (const n of pressed) await page.keyboard.press(String(n));
  await page.keyboard.press('Enter');
  await page.waitForFunction((i) => document.querySelector('#finished, #waiting') !== null || (document.querySelector('#item') !== null && Number(document.querySelector('#item')!.getAttribute('data-index')) !== i), index, { timeout: 15_000 }).catch(async (e: Error) => {
    throw new Error(`${e.message}; the page says: ${await page.$eval('main', (m) => m.textContent)}`);
  });
  const first = pressed.map((n) => n - 1);
  return { index, order: [...first, ...Array.from({ length: k }, (_, i) => i).filter((i) => !first.includes(i))] };
}

/** τ-a computed here, apart from the studio's code: concordant minus discordant pairs of answers, over all pairs. */
function tau(a: string[], b: string[]): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++)
    for (let j = i + 1; j < a.length; j++) {
      n++;
      s += b.indexOf(a[i]!) < b.indexOf(a[j]!) ? 1 : -1;
    }
  return s / n;
}

test('rank 5 prompts by keyboard, SIGKILL, restart: all 5 on disk, the 6th shown (ranked by drag, the 7th with a written answer); reward and DPO train on the file as it is', { skip, timeout: 180_000 }, async () => {
  const { dir, prompts, out } = setup();
  mkdirSync(SHOTS, { recursive: true });
  const args = ['--model', STORIES_GGUF, '--prompts', prompts, '--out', out, '--k', '3', '--max-tokens', '24', '--annotator', 'alice'];
  const browser = await launchBrowser();
  let studio = await startStudio(args);
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const problems = watchProblems(page, studio.url);
    await page.goto(studio.url);
    await page.waitForSelector('#item');
    await screenshots(page, SHOTS, 'ranking');
    assert.match(await page.$eval('#settings', (e) => e.textContent ?? ''), /3 answers from stories260K · temperature 0\.8 · top-p 0\.95 · up to 24 tokens · seed 0/);
    const saved: { index: number; order: number[]; candidates: string[] }[] = [];
    for (let n = 0; n < 5; n++) {
      const candidates = await page.$$eval('.candidate .text', (els) => els.map((e) => e.textContent ?? ''));
      const shownFirst = await page.$$eval('.candidate', (els) => els.map((e) => Number(e.getAttribute('data-candidate'))));
      // Before any key, the answers are shown as they came: candidate i at position i.
      const inOrder = shownFirst.map((c) => candidates[shownFirst.indexOf(c)]!);
      const r = await rankByKeys(page, n % 2 === 0 ? [3, 1] : [2, 3]);
      saved.push({ ...r, candidates: inOrder });
    }
    assert.match(await page.$eval('#reveal', (e) => e.textContent ?? ''), /Written by: 1 stories260K · 2 stories260K/);
    assert.deepEqual(problems, []);

    await stopStudio(studio, 'SIGKILL');
    const rows = readRows(out);
    assert.equal(rows.length, 5);
    rows.forEach((row, i) => {
      assert.equal(row.prompt, PROMPTS[saved[i]!.index]);
      assert.deepEqual(row.responses, saved[i]!.candidates);
      assert.deepEqual(row.ranking, saved[i]!.order);
      assert.equal(row.annotator, 'alice');
      assert.deepEqual(row.model_of_response, row.responses.map(() => 'stories260K'));
      assert.ok(!Number.isNaN(Date.parse(row.time)));
    });
    assert.deepEqual(saved.map((s) => s.index), [0, 1, 2, 3, 4]);

    studio = await startStudio(args);
    await page.goto(studio.url);
    await page.waitForSelector('#item');
    assert.equal(await shownIndex(page), 5);
    assert.equal(await page.$eval('#item .prompt', (e) => e.textContent), PROMPTS[5]);
    assert.match(await page.$eval('#progress', (e) => e.textContent ?? ''), /you ranked 5 · 5 of 8 prompts complete/);
    // By drag instead of keys: the third answer dropped on the first takes its place.
    const sixth = await page.$$eval('.candidate .text', (els) => els.map((e) => e.textContent ?? ''));
    await page.dragAndDrop('.candidate[data-candidate="2"]', '.candidate[data-candidate="0"]');
    assert.deepEqual(await page.$$eval('.candidate', (els) => els.map((e) => Number(e.getAttribute('data-candidate')))), [2, 0, 1]);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => Number(document.querySelector('#item')?.getAttribute('data-index')) === 6);
    const dragged = readRows(out)[5]!;
    assert.deepEqual([dragged.prompt, dragged.responses, dragged.ranking], [PROMPTS[5], sixth, [2, 0, 1]]);
    // All bad: B opens the box, the written answer is saved first and ranked best (Ctrl+Enter from the box).
    const seventh = await page.$$eval('.candidate .text', (els) => els.map((e) => e.textContent ?? ''));
    await page.keyboard.press('b');
    await page.waitForSelector('#better:focus');
    await page.keyboard.type('Once there was a better story.');
    await page.keyboard.press('Control+Enter');
    await page.waitForFunction(() => Number(document.querySelector('#item')?.getAttribute('data-index')) === 7);
    const written = readRows(out)[6]!;
    assert.deepEqual([written.responses, written.ranking, written.model_of_response], [['Once there was a better story.', ...seventh], [0, 1, 2, 3], ['human', 'stories260K', 'stories260K', 'stories260K']]);
  } finally {
    await browser.close();
    await stopStudio(studio);
  }
  try {
    for (const method of ['reward', 'dpo']) {
      const r = spawnSync(process.execPath, ['bin/whet.js', 'train', '--method', method, '--model', STORIES_GGUF, '--data', out, '--out', join(dir, method), '--steps', '2', '--batch-size', '4', '--holdout-fraction', '0', '--json'], { encoding: 'utf8', env: { ...process.env, WHET_NO_PROGRESS: '1' } });
      assert.equal(r.status, 0, `${method}: ${r.stderr}`);
      const s = JSON.parse(r.stdout) as { steps: number; train_examples: number };
      assert.equal(s.steps, 2);
      // Each ranking of 3 answers is 3 pairs; the one with a written answer has 4 answers, 6 pairs.
      assert.equal(s.train_examples, 24, method);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two annotators at once never hold the same prompt; the agreement shown is Kendall\'s tau of their overlaps', { skip, timeout: 180_000 }, async () => {
  const { dir, prompts, out } = setup();
  const studio = await startStudio(['--model', STORIES_GGUF, '--prompts', prompts, '--out', out, '--k', '3', '--max-tokens', '16', '--per-prompt', '2']);
  const browser = await launchBrowser();
  try {
    const pages: Record<string, Page> = {};
    for (const name of ['alice', 'bob']) {
      const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
      await page.goto(studio.url);
      await page.fill('#annotator', name);
      await page.keyboard.press('Enter');
      await page.waitForSelector('#item');
      pages[name] = page;
    }
    // The API refuses what the page never sends: an order that is not a permutation, a prompt someone else holds.
    const post = (path: string, body: unknown): Promise<Response> => fetch(`${studio.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const next = (await (await fetch(`${studio.url}/api/rank/next?annotator=carol`)).json()) as { index: number; done: boolean };
    assert.equal(next.done, false);
    assert.equal((await post('/api/rank/submit', { annotator: 'carol', index: next.index, order: [0, 0, 1] })).status, 400);
    assert.equal((await post('/api/rank/submit', { annotator: 'dave', index: next.index, order: [0, 1, 2] })).status, 409);
    assert.equal(existsSync(out), false, 'refused submissions write nothing');
    assert.equal((await post('/api/rank/skip', { annotator: 'carol', index: next.index })).status, 200);
    // alice ranks answers as they come; bob reverses them on even prompts and swaps the last two on odd ones.
    const keys = (name: string, index: number): number[] => (name === 'alice' ? [1, 2] : index % 2 === 0 ? [3, 2] : [1, 3]);
    const done = async (p: Page): Promise<boolean> => (await p.$('#finished')) !== null;
    const ranking = async (p: Page): Promise<boolean> => (await p.$('#item')) !== null;
    let submits = 0;
    while (!(await done(pages.alice!)) || !(await done(pages.bob!))) {
      for (const name of ['alice', 'bob']) {
        const [a, b] = [pages.alice!, pages.bob!];
        if ((await ranking(a)) && (await ranking(b))) assert.notEqual(await shownIndex(a), await shownIndex(b), 'both hold the same prompt');
        const p = pages[name]!;
        // One waiting for the prompt the other holds asks again each second.
        if (!(await ranking(p))) {
          await p.waitForTimeout(200);
          continue;
        }
        await rankByKeys(p, keys(name, await shownIndex(p)));
        submits++;
      }
    }
    assert.equal(submits, 16, 'each of 8 prompts ranked by both');

    const rows = readRows(out);
    const byPrompt = new Map<string, Row[]>();
    for (const r of rows) byPrompt.set(r.prompt, [...(byPrompt.get(r.prompt) ?? []), r]);
    assert.equal(byPrompt.size, 8);
    const taus = [...byPrompt.values()].map(([x, y]) => {
      assert.deepEqual(new Set([x!.annotator, y!.annotator]), new Set(['alice', 'bob']));
      return tau(x!.ranking.map((i) => x!.responses[i]!), y!.ranking.map((i) => y!.responses[i]!));
    });
    const expected = taus.reduce((s, t) => s + t, 0) / taus.length;
    await pages.alice!.reload();
    await pages.alice!.waitForSelector('#finished');
    const shown = await pages.alice!.$eval('#agreement', (e) => ({ tau: Number(e.getAttribute('data-tau')), pairs: Number(e.getAttribute('data-pairs')), text: e.textContent }));
    assert.ok(Math.abs(shown.tau - expected) < 1e-12, `shown ${shown.tau}, computed ${expected}`);
    assert.equal(shown.pairs, 8);
    assert.match(shown.text ?? '', new RegExp(`Kendall's τ\\): ${expected.toFixed(3)} over 8 pairs on 8 prompts`));

  } finally {
    await browser.close();
    await stopStudio(studio);
    rmSync(dir, { recursive: true, force: true });
  }
});
