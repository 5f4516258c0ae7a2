// `whet demo --quick` end to end on the embedded base model: each figure moves the right way (accuracy up after SFT,
// house-style share up after DPO), the forgetting check reports its numbers, the served answers come back, the files
// are kept under --out, and the HTML report opens in headless Chromium with no console errors or requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const MODEL = existsSync('models/tiny-base/config.json') ? 'models/tiny-base' : undefined;
const modelSkip: string | false = MODEL === undefined ? 'no embedded base model (models/tiny-base): whet demo test skipped' : false;
const CHROMIUM = '/usr/bin/chromium';

type Line = Record<string, unknown> & { step: string };

test('whet demo --quick: accuracy rises after SFT, house style rises after DPO, forgetting measured, report renders', { skip: modelSkip, timeout: 15 * 60_000 }, async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'whet-demo-test-')), 'run');
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['bin/whet.js', 'demo', '--quick', '--json', '--model', MODEL!, '--out', out], {
      env: { ...process.env, WHET_NO_PROGRESS: '1' },
      maxBuffer: 16 << 20,
    });
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Line);
    const step = (name: string): Line => {
      const l = lines.find((x) => x.step === name);
      assert.ok(l !== undefined, `no ${name} line in ${stdout}`);
      return l;
    };
    assert.deepEqual(lines.map((l) => l.step), ['data', 'base', 'rehearsal', 'sft', 'after-sft', 'forgetting', 'dpo', 'after-dpo', 'serve', 'report']);
    const [base, sft, dpo] = [step('base'), step('after-sft'), step('after-dpo')];
    assert.ok((sft.accuracy as number) > (base.accuracy as number), `accuracy ${base.accuracy} → ${sft.accuracy} after SFT`);
    assert.ok((dpo.house_style as number) > (sft.house_style as number), `house style ${sft.house_style} → ${dpo.house_style} after DPO`);
    const sftLine = step('sft');
    assert.ok((sftLine.last_loss as number) < (sftLine.first_loss as number), `training loss ${sftLine.first_loss} → ${sftLine.last_loss}`);
    assert.ok((sftLine.holdout_loss_after as number) < (sftLine.holdout_loss_before as number), `holdout loss ${sftLine.holdout_loss_before} → ${sftLine.holdout_loss_after}`);
    const f = step('forgetting');
    assert.ok(Number.isFinite(f.nll_before) && Number.isFinite(f.nll_after) && (f.tokens as number) > 100);
    assert.equal(f.verdict, (f.increase as number) <= (f.threshold as number) ? 'ok' : 'forgot');
    const serve = step('serve') as Line & { answers: { model: string; answer: string }[] };
    assert.deepEqual(serve.answers.map((a) => a.model).slice(1), ['sql-sft', 'sql-style']);
    assert.ok(serve.answers.slice(1).every((a) => /SELECT/i.test(a.answer)), JSON.stringify(serve.answers));

    const rehearsal = step('rehearsal');
    assert.ok((rehearsal.texts as number) > 0 && (rehearsal.tokens as number) > 0, JSON.stringify(rehearsal));
    for (const f of ['data/shop.sqlite', 'data/train.jsonl', 'data/sft.jsonl', 'data/general.txt', 'data/holdout.jsonl', 'data/pairs.jsonl', 'sft/adapter/adapter_config.json', 'dpo/adapter/adapter_model.safetensors', 'sft/metrics.jsonl', 'report.md', 'report.html'])
      assert.ok(existsSync(join(out, f)), `${f} missing under --out`);
    const html = step('report').html as string;
    assert.equal(html, join(out, 'report.html'));

    if (!existsSync(CHROMIUM)) {
      process.stdout.write(`# ${CHROMIUM} is absent: the report's headless check skipped\n`);
      return;
    }
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      const url = pathToFileURL(html).href;
      page.on('request', (r) => {
        if (r.url() !== url) problems.push(`request: ${r.url()}`);
      });
      await page.goto(url, { waitUntil: 'load' });
      assert.deepEqual(problems, []);
      assert.equal(await page.title(), 'Whetstone demo: SQL in a house dialect');
      // Two runs' loss curves (SFT, DPO) and the DPO reward chart; the side-by-side samples; the served answers.
      assert.ok((await page.locator('svg.chart').count()) >= 3);
      assert.equal(await page.locator('table.text').count(), 2);
      const evalText = await page.locator('#eval').innerText();
      assert.match(evalText, /execution accuracy/);
      assert.match(await page.locator('#forgetting').innerText(), /verdict\s+(ok|forgot)/);
    } finally {
      await browser.close();
    }
  } finally {
    rmSync(join(out, '..'), { recursive: true, force: true });
  }
});

test('whet demo: a missing model is one clear error line and exit 1', async () => {
  const r = await promisify(execFile)(process.execPath, ['bin/whet.js', 'demo', '--quick', '--model', '/nonexistent/model'], { env: { ...process.env, WHET_NO_PROGRESS: '1' } }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'whet demo: /nonexistent/model: no such model\n');
});
