// `whet eval` before/after: a LoRA adapter trained on stories260K scored with its adapter off and on, the forgetting
// check against `whet perplexity`, the report written next to the run's metrics, and a separate --base model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedPath, sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';
import { fmt } from '../src/eval/report.ts';

function whet(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/whet.js', ...args], { encoding: 'utf8', env: { ...process.env, WHET_NO_PROGRESS: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r) + '\n').join('');

interface EvalJson {
  metric: string;
  score: number;
  n: number;
  before?: number;
  after?: number;
  forgetting?: { before_nll: number; after_nll: number; increase: number; threshold: number; verdict: string };
}

/** Relative closeness: the same computation on the same weights, up to float summation order. */
const close = (a: number, b: number, rel: number): boolean => Math.abs(a - b) <= rel * Math.abs(b);

// A task the base model cannot do: always answer " Wow!" (4 tokens: ▁ W ow !), learned from 64 prompts and
// checked on 8 unseen ones. stories260K never saw EOS in pretraining, so 30 steps teach the answer but not the
// stop: --max-tokens 4 bounds the generation to the answer's length.
const NAMES = ['Tom', 'Lily', 'Ben', 'Mia', 'Sam', 'Anna', 'Max', 'Sue', 'Tim', 'Lucy', 'Jack', 'Emma'];
const THINGS = ['ball', 'cat', 'dog', 'tree', 'cake', 'car', 'bird', 'boat', 'hat', 'fish'];
const row = (n: string, t: string): { prompt: string; completion: string } => ({ prompt: `${n} saw a ${t}. What did ${n} say?`, completion: ' Wow!' });

test('LoRA on stories260K: before (adapter off) and after scores, forgetting NLLs as whet perplexity measures them, report, separate --base', { skip: sharedSkip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'whet-eval-compare-'));
  try {
    const train = join(dir, 'train.jsonl');
    const holdout = join(dir, 'holdout.jsonl');
    writeFileSync(train, jsonl(NAMES.slice(0, 8).flatMap((n) => THINGS.slice(0, 8).map((t) => row(n, t)))));
    writeFileSync(holdout, jsonl(NAMES.slice(8).flatMap((n) => THINGS.slice(8).map((t) => row(n, t)))));
    // ~20 KB of TinyStories validation text, cut at a line end: ~9,600 tokens, the model's own domain.
    const full = readFileSync(sharedPath('holdout-text/tinystories_val_slice.txt'), 'utf8');
    const text = join(dir, 'general.txt');
    writeFileSync(text, full.slice(0, full.indexOf('\n', 20_000) + 1));

    const run = join(dir, 'run');
    const t = whet('train', '--method', 'lora', '--model', STORIES_GGUF, '--data', train, '--out', run, '--steps', '30', '--lr', '1e-2', '--warmup-steps', '2',
      '--batch-size', '8', '--rank', '4', '--alpha', '8', '--eval-every', '10', '--save-every', '0', '--json');
    assert.equal(t.code, 0, t.stderr);
    const adapter = join(run, 'adapter');

    const common = ['--data', holdout, '--metric', 'exact', '--max-tokens', '4', '--forgetting', text];
    const r = whet('eval', '--model', STORIES_GGUF, '--adapter', adapter, ...common, '--report', run, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as EvalJson;
    assert.equal(out.n, 8);
    assert.equal(typeof out.before, 'number');
    assert.equal(out.after, out.score);
    assert.ok(out.after! >= out.before!, `after ${out.after} < before ${out.before}`);
    assert.ok(out.after! > 0.5, `the adapter answers ' Wow!' on unseen prompts: exact match ${out.after}`);

    // "Before" is the base itself: its NLL is whet perplexity's on the same file; "after" is the model with the adapter.
    const f = out.forgetting!;
    const basePpl = whet('perplexity', '--model', STORIES_GGUF, '--text', text, '--json');
    assert.equal(basePpl.code, 0, basePpl.stderr);
    const base = JSON.parse(basePpl.stdout) as { nll: number; tokens: number };
    assert.ok(base.tokens > 5000, `${base.tokens} tokens`);
    assert.ok(close(f.before_nll, base.nll, 1e-6), `before_nll ${f.before_nll} vs whet perplexity ${base.nll}`);
    const tunedPpl = whet('perplexity', '--model', STORIES_GGUF, '--adapter', adapter, '--text', text, '--json');
    assert.equal(tunedPpl.code, 0, tunedPpl.stderr);
    assert.ok(close(f.after_nll, (JSON.parse(tunedPpl.stdout) as { nll: number }).nll, 1e-6));
    assert.notEqual(f.after_nll, f.before_nll);
    assert.ok(close(f.increase, (f.after_nll - f.before_nll) / f.before_nll, 1e-12));
    assert.equal(f.threshold, 0.1);
    assert.equal(f.verdict, f.increase <= 0.1 ? 'ok' : 'forgot');

    // The report: loss curves from the run's metrics.jsonl (30 steps, holdout every 10) and the table's numbers.
    const md = readFileSync(join(run, 'report.md'), 'utf8');
    assert.ok(md.includes(`| exact match | ${fmt(out.before)} | ${fmt(out.after)} |`), md);
    assert.ok(md.includes(`| general-text NLL (forgetting check) | ${fmt(f.before_nll)} | ${fmt(f.after_nll)} |`), md);
    assert.match(md, /\| steps \| 30 \|/);
    const html = readFileSync(join(run, 'report.html'), 'utf8');
    const paths = new Map([...html.matchAll(/<path class="series" data-series="([^"]*)" d="([^"]*)"/g)].map((p) => [p[1]!, p[2]!]));
    const points = (series: string): number => (paths.get(series) ?? '').split(/[ML]/).filter((p) => p !== '').length;
    assert.equal(points('training loss'), 30);
    assert.equal(points('holdout loss'), 3);
    assert.ok(html.includes(`<tr><td>exact match</td><td class="num">${fmt(out.before)}</td><td class="num">${fmt(out.after)}</td>`));
    assert.ok(html.includes(`<tr><td>base NLL</td><td class="num">${fmt(f.before_nll)}</td></tr>`));
    assert.ok(html.includes(`<tr><td>fine-tuned NLL</td><td class="num">${fmt(f.after_nll)}</td></tr>`));
    assert.ok(html.includes(`class="num verdict-${f.verdict}">${f.verdict}<`));
    assert.ok(existsSync(join(run, 'report-loss.svg')));

    // The human lines; a "forgot" verdict (any increase against threshold 0) is a finding: exit status 0.
    const human = whet('eval', '--model', STORIES_GGUF, '--adapter', adapter, ...common, '--forgetting-threshold', '0');
    assert.equal(human.code, 0, human.stderr);
    const lines = human.stdout.trim().split('\n');
    assert.match(lines[0]!, /^exact match: \d\.\d{4} → \d\.\d{4} \([+-]?\d\.\d{4}\) over 8 examples$/);
    const pct = (f.increase * 100).toFixed(1);
    assert.ok(lines[1]!.startsWith(`forgetting check: NLL ${f.before_nll.toFixed(2)} → ${f.after_nll.toFixed(2)} (+${pct}%), threshold 0%: forgot`), lines[1]);
    // With --json a "forgot" verdict is also said on stderr, where a person sees it.
    const quiet = whet('eval', '--model', STORIES_GGUF, '--adapter', adapter, ...common, '--forgetting-threshold', '0', '--json');
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal((JSON.parse(quiet.stdout) as EvalJson).forgetting!.verdict, 'forgot');
    assert.match(quiet.stderr, /^warning: forgetting check: .*: forgot$/m);

    // A separate --base: the adapter merged into a full model, compared with the original GGUF, tells the same story.
    const merged = join(dir, 'merged');
    const m = whet('merge', '--model', STORIES_GGUF, '--adapter', adapter, '--out', merged);
    assert.equal(m.code, 0, m.stderr);
    const cmp = join(dir, 'compare');
    const sep = whet('eval', '--model', merged, '--base', STORIES_GGUF, ...common, '--report', cmp, '--json');
    assert.equal(sep.code, 0, sep.stderr);
    const s = JSON.parse(sep.stdout) as EvalJson;
    assert.equal(s.before, out.before);
    assert.equal(s.after, out.after);
    assert.equal(s.forgetting!.before_nll, f.before_nll);
    assert.ok(close(s.forgetting!.after_nll, f.after_nll, 1e-5), `merged ${s.forgetting!.after_nll} vs adapter ${f.after_nll}`);
    // A report folder without a training run's metrics.jsonl: the evaluation alone, no training section or chart.
    const cmpMd = readFileSync(join(cmp, 'report.md'), 'utf8');
    assert.ok(cmpMd.includes(`| exact match | ${fmt(s.before)} | ${fmt(s.after)} |`), cmpMd);
    assert.doesNotMatch(cmpMd, /## Training/);
    assert.doesNotMatch(readFileSync(join(cmp, 'report.html'), 'utf8'), /<svg/);
    assert.equal(existsSync(join(cmp, 'report-loss.svg')), false);

    // Without a "before" model there is nothing to compare.
    const lone = whet('eval', '--model', STORIES_GGUF, ...common);
    assert.equal(lone.code, 2);
    assert.match(lone.stderr, /--forgetting compares the model before and after fine-tuning/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
