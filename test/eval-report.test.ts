// Run report: metrics.jsonl parsing, report.md contents, the reward chart of DPO/KTO/reward-model runs (none for SFT),
// and report.html rendered in headless Chromium (no console errors, no network, one SVG path per series with a point
// per metrics line, the table's numbers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readMetrics, writeReport, type EvalSummary } from '../src/eval/report.ts';
import { lineChart, MAX_POINTS } from '../src/eval/svg-chart.ts';

const CHROMIUM = '/usr/bin/chromium';
const chromiumSkip: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install -y chromium): headless report test skipped`;

/** 40 training steps with a decaying loss and a holdout evaluation every 10 steps. */
function writeRun(dir: string): void {
  const lines: string[] = [];
  for (let step = 1; step <= 40; step++) {
    const rec: Record<string, number> = { step, loss: 3 * Math.exp(-step / 15) + 0.5 + 0.05 * Math.sin(step), lr: 1e-4, grad_norm: 1.2, tokens_per_s: 900 + step };
    if (step % 10 === 0) rec.holdout_loss = 3 * Math.exp(-step / 18) + 0.7;
    lines.push(JSON.stringify(rec));
  }
  writeFileSync(join(dir, 'metrics.jsonl'), lines.join('\n') + '\n');
}

const SUMMARY: EvalSummary = {
  title: 'SFT on Spider <test>',
  rows: [
    { metric: 'SQL execution accuracy', before: 0.125, after: 0.5625, better: 'higher' },
    { metric: 'holdout loss', before: 2.5, after: 1.25, better: 'lower' },
  ],
  forgetting: { base: { nll: 1.3, ppl: Math.exp(1.3), tokens: 4095 }, tuned: { nll: 1.365, ppl: Math.exp(1.365), tokens: 4095 }, nllIncrease: 0.05, threshold: 0.1, verdict: 'ok' },
};

test('readMetrics: a torn last line is dropped, a bad line elsewhere names its line; NaN (null) is a gap', () => {
  const dir = mkdtempSync(join(tmpdir(), 'whet-report-'));
  try {
    const p = join(dir, 'metrics.jsonl');
    writeFileSync(p, '{"step":1,"loss":2}\n{"step":2,"loss":null}\n{"step":3,"lo');
    const m = readMetrics(p);
    assert.equal(m.length, 2);
    assert.ok(Number.isNaN(m[1]!.loss));
    writeFileSync(p, '{"step":1,"loss":2}\nnot json\n{"step":3,"loss":1}\n');
    assert.throws(() => readMetrics(p), /metrics\.jsonl:2: invalid JSON/);
    writeFileSync(p, '{"step":"one","loss":2}\n');
    assert.throws(() => readMetrics(p), /metrics\.jsonl:1: 'step' must be a number/);
    writeFileSync(p, '{"step":1,"loss":"low"}\n');
    assert.throws(() => readMetrics(p), /metrics\.jsonl:1: 'loss' must be a number/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('report.md has the before/after table, the forgetting verdict and the training summary; no temporary files remain', () => {
  const dir = mkdtempSync(join(tmpdir(), 'whet-report-'));
  try {
    writeRun(dir);
    const files = writeReport(dir, SUMMARY);
    const md = readFileSync(files.markdown, 'utf8');
    assert.match(md, /^# SFT on Spider <test>/);
    assert.match(md, /\| SQL execution accuracy \| 0\.1250 \| 0\.5625 \| \+0\.4375 \|/);
    assert.match(md, /\| holdout loss \| 2\.5000 \| 1\.2500 \| -1\.2500 \|/);
    assert.match(md, /\+5\.00 % against a threshold of \+10\.00 %: \*\*ok\*\*/);
    assert.match(md, /\| steps \| 40 \|/);
    assert.match(md, /!\[training and holdout loss\]\(report-loss\.svg\)/);
    assert.match(readFileSync(files.chart!, 'utf8'), /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.deepEqual(readdirSync(dir).sort(), ['metrics.jsonl', 'report-loss.svg', 'report.html', 'report.md']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A DPO-style run: 40 steps of implicit-reward metrics, holdout ones every 10 steps. */
function writeDpoRun(dir: string): void {
  const lines: string[] = [];
  for (let step = 1; step <= 40; step++) {
    const margin = 2 * (1 - Math.exp(-step / 12));
    const rec: Record<string, number | string> = { step, loss: 0.69 * Math.exp(-step / 20), lr: 5e-6, 'rewards/chosen': margin / 2, 'rewards/rejected': -margin / 2, 'rewards/margins': margin, 'rewards/accuracies': Math.min(1, 0.4 + step / 50), 'logps/chosen': -30, 'logps/rejected': -34, note: 'text is ignored' };
    if (step % 10 === 0) Object.assign(rec, { holdout_loss: 0.6 * Math.exp(-step / 25), 'holdout_rewards/margins': 0.8 * margin, 'holdout_rewards/accuracies': 0.5 + step / 100 });
    lines.push(JSON.stringify(rec));
  }
  writeFileSync(join(dir, 'metrics.jsonl'), lines.join('\n') + '\n');
}

/** The points of a series' path, as the chart draws them (SVG coordinates). */
function pathPoints(svg: string, name: string): [number, number][] {
  const d = new RegExp(`data-series="${name}" d="([^"]*)"`).exec(svg)?.[1];
  assert.ok(d !== undefined, `series ${name} is drawn`);
  return d.split(/[ML]/).filter((p) => p !== '').map((p) => p.split(',').map(Number) as [number, number]);
}

test('readMetrics keeps a method\'s own numeric keys (DPO rewards/…, KTO kl), NaN for null, and leaves text out', () => {
  const dir = mkdtempSync(join(tmpdir(), 'whet-report-'));
  try {
    const p = join(dir, 'metrics.jsonl');
    writeFileSync(p, '{"step":1,"loss":0.7,"rewards/margins":0.25,"kl":null,"holdout_rewards/accuracies":0.5,"note":"x","nested":{"a":1}}\n');
    const [m] = readMetrics(p);
    assert.equal(m!['rewards/margins'], 0.25);
    assert.equal(m!['holdout_rewards/accuracies'], 0.5);
    assert.ok(Number.isNaN(m!.kl));
    assert.equal('note' in m!, false);
    assert.equal('nested' in m!, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a DPO run gets a second chart: margins on the left axis, accuracies on a 0..1 right axis, holdout ones dotted', () => {
  const dir = mkdtempSync(join(tmpdir(), 'whet-report-'));
  try {
    writeDpoRun(dir);
    const files = writeReport(dir, { rows: [] });
    assert.deepEqual(readdirSync(dir).sort(), ['metrics.jsonl', 'report-loss.svg', 'report-rewards.svg', 'report.html', 'report.md']);
    const md = readFileSync(files.markdown, 'utf8');
    assert.match(md, /!\[training and holdout loss\]\(report-loss\.svg\)\n\n!\[reward margins and accuracies\]\(report-rewards\.svg\)/);
    assert.match(md, /\| last holdout reward accuracy \| 0\.9000 \|/); // 0.5 + 40/100
    const svg = readFileSync(files.rewardChart!, 'utf8');
    assert.deepEqual([...svg.matchAll(/data-series="([^"]+)"/g)].map((m) => m[1]), ['reward margin', 'holdout reward margin', 'reward accuracy', 'holdout reward accuracy']);
    const margin = pathPoints(svg, 'reward margin');
    const accuracy = pathPoints(svg, 'reward accuracy');
    assert.equal(margin.length, 40);
    assert.equal(pathPoints(svg, 'holdout reward accuracy').length, 4);
    // The plot box, and where the right axis puts 0 and 1: accuracy 1 (reached at step 30) sits on the top edge.
    const [, bx, by, bw, bh] = /<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="none" stroke="#999"\/>/.exec(svg)!.map(Number);
    for (const [x, y] of [...margin, ...accuracy]) assert.ok(x >= bx! && x <= bx! + bw! && y >= by! && y <= by! + bh!, `(${x}, ${y}) inside the plot`);
    assert.ok(Math.abs(accuracy[39]![1] - by!) < 0.5, `accuracy 1 at the top (${accuracy[39]![1]} vs ${by})`);
    assert.ok(Math.abs(accuracy[0]![1] - (by! + bh! * (1 - 0.42))) < 0.5, 'accuracy 0.42 at 42 % of the height');
    // Margins rise to the top of their own (left) axis: the last one is well above the first.
    assert.ok(margin[39]![1] < margin[0]![1] - bh! / 2);
    assert.match(svg, /accuracy \(share of pairs\)/);
    assert.match(readFileSync(files.html, 'utf8'), /<title>Rewards<\/title>/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('KTO (margins, no accuracies) and reward-model runs chart what they log; SFT runs, even with a stray accuracy, get no second chart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'whet-report-'));
  const series = (svg: string): string[] => [...svg.matchAll(/data-series="([^"]+)"/g)].map((m) => m[1]!);
  try {
    const p = join(dir, 'metrics.jsonl');
    writeFileSync(p, [1, 2, 3].map((step) => JSON.stringify({ step, loss: 0.5, 'rewards/chosen': 0.1 * step, 'rewards/rejected': -0.1, 'rewards/margins': 0.1 * step + 0.1, kl: 0.01 })).join('\n') + '\n');
    assert.deepEqual(series(readFileSync(writeReport(dir, { rows: [] }).rewardChart!, 'utf8')), ['reward margin']);

    writeFileSync(p, [1, 2, 3, 4].map((step) => JSON.stringify({ step, loss: 0.6, accuracy: 0.25 * step, margin: step, ...(step % 2 === 0 ? { holdout_loss: 0.5, holdout_accuracy: 0.5, holdout_margin: 1 } : {}) })).join('\n') + '\n');
    const rm = writeReport(dir, { rows: [] });
    const svg = readFileSync(rm.rewardChart!, 'utf8');
    assert.deepEqual(series(svg), ['margin', 'holdout margin', 'accuracy', 'holdout accuracy']);
    assert.equal(pathPoints(svg, 'holdout accuracy').length, 2);
    assert.match(readFileSync(rm.markdown, 'utf8'), /\| last accuracy \| 1 \|/);

    for (const extra of [{}, { accuracy: 0.5 }]) {
      rmSync(join(dir, 'report-rewards.svg'), { force: true });
      writeFileSync(p, [1, 2].map((step) => JSON.stringify({ step, loss: 1 / step, ...extra })).join('\n') + '\n');
      const files = writeReport(dir, { rows: [] });
      assert.equal(files.rewardChart, undefined);
      assert.equal(existsSync(join(dir, 'report-rewards.svg')), false);
      assert.doesNotMatch(readFileSync(files.markdown, 'utf8'), /reward|accuracy/);
      assert.equal((readFileSync(files.html, 'utf8').match(/<svg /g) ?? []).length, 1);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('long runs are thinned to at most MAX_POINTS per series, keeping the extremes', () => {
  const n = 20_000;
  const points = Array.from({ length: n }, (_, i) => [i, i === 12_345 ? 50 : 1 + (i % 7) / 10] as const);
  const svg = lineChart([{ name: 'loss', color: '#000', points }], { title: 't', xLabel: 'x', yLabel: 'y' });
  const d = /data-series="loss" d="([^"]*)"/.exec(svg)![1]!;
  const count = d.split(/[ML]/).filter((s) => s !== '').length;
  assert.ok(count <= MAX_POINTS && count > MAX_POINTS / 2, `${count} points`);
  // The spike at 50 sets the top of the axis: the highest tick label is 50.
  assert.match(svg, />50<\/text>/);
});

test('report.html in headless Chromium: no console errors or requests, a path per series with every point, the numbers shown', { skip: chromiumSkip }, async () => {
  const { chromium } = await import('playwright-core');
  const dir = mkdtempSync(join(tmpdir(), 'whet-report-'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    writeRun(dir);
    const files = writeReport(dir, SUMMARY);
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    const url = pathToFileURL(files.html).href;
    page.on('request', (r) => {
      if (r.url() !== url) problems.push(`request: ${r.url()}`);
    });
    await page.goto(url, { waitUntil: 'load' });
    assert.deepEqual(problems, []);
    assert.equal(await page.title(), 'SFT on Spider <test>');

    const paths = await page.$$eval('svg path.series', (els) => els.map((e) => ({ name: e.getAttribute('data-series'), d: e.getAttribute('d') ?? '', len: (e as SVGPathElement).getTotalLength() })));
    assert.deepEqual(paths.map((p) => p.name), ['training loss', 'holdout loss']);
    const points = (d: string): number => d.split(/[ML]/).filter((s) => s !== '').length;
    assert.equal(points(paths[0]!.d), 40);
    assert.equal(points(paths[1]!.d), 4);
    for (const p of paths) assert.ok(p.len > 50, `${p.name} is drawn (${p.len} px long)`);
    // The curves lie inside the chart's box.
    const inside = await page.$$eval('svg path.series', (els) => {
      const svg = els[0]!.closest('svg')!.getBoundingClientRect();
      return els.every((e) => {
        const b = e.getBoundingClientRect();
        return b.left >= svg.left && b.right <= svg.right && b.top >= svg.top && b.bottom <= svg.bottom && b.width > 0 && b.height > 0;
      });
    });
    assert.equal(inside, true);

    const rows = await page.$$eval('#eval tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    assert.deepEqual(rows, [
      ['SQL execution accuracy', '0.1250', '0.5625', '+0.4375'],
      ['holdout loss', '2.5000', '1.2500', '-1.2500'],
    ]);
    // An improvement is green whichever way the metric runs.
    assert.deepEqual(await page.$$eval('#eval tbody tr td:last-child', (tds) => tds.map((td) => td.className)), ['num good', 'num good']);
    assert.equal(await page.$eval('#forgetting .verdict-ok', (e) => e.textContent), 'ok');
    assert.match(await page.$eval('#training', (e) => e.textContent ?? ''), /steps\s*40/);

    const shot = join(tmpdir(), 'whet-report-screenshot.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(readFileSync(shot).length > 10_000);
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
