// Real-model fine-tuning experiments on stories260K: SFT raises holdout exact match from zero to a majority
// (shown by `whet eval` before and after), and LoRA vs full fine-tuning on WikiText-2 for the same tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sharedPath, sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';

const env = { ...process.env, WHET_NO_PROGRESS: '1' };
function whet(...args: string[]): string {
  const r = spawnSync(process.execPath, ['bin/whet.js', ...args], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, `whet ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A house format the base model has never seen: symptom pairs to diagnostic codes; holdout pairs are unseen combinations. */
function diagnosticCodes(dir: string): { train: string; holdout: string } {
  const codes: Record<string, string> = { fever: 'R50', cough: 'R05', headache: 'R51', nausea: 'R11', rash: 'R21', fatigue: 'R53', dizziness: 'R42', chills: 'R68', sneezing: 'R06', backache: 'M54', earache: 'H92', toothache: 'K08' };
  const names = Object.keys(codes);
  const rows = names.flatMap((a) => names.filter((b) => b !== a).map((b) => ({ prompt: `Symptoms: ${a} and ${b}. Codes:`, completion: ` ${codes[a]} ${codes[b]}` })));
  // Deterministic shuffle, then 100 training pairs and 32 held out.
  let s = 42;
  for (let i = rows.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = Math.floor((s / 2147483648) * (i + 1));
    [rows[i], rows[j]] = [rows[j]!, rows[i]!];
  }
  const write = (name: string, xs: typeof rows): string => {
    const p = path.join(dir, name);
    writeFileSync(p, xs.map((x) => JSON.stringify(x)).join('\n') + '\n');
    return p;
  };
  return { train: write('train.jsonl', rows.slice(0, 100)), holdout: write('holdout.jsonl', rows.slice(100)) };
}

test('SFT raises holdout exact match from zero to a clear majority', { skip: sharedSkip, timeout: 300_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-sft-'));
  try {
    const { train, holdout } = diagnosticCodes(dir);
    const score = (...model: string[]) => JSON.parse(whet('eval', ...model, '--data', holdout, '--metric', 'exact', '--json')) as { score: number; n: number };
    const before = score('--model', STORIES_GGUF);
    const out = path.join(dir, 'run');
    whet('train', '--method', 'full', '--model', STORIES_GGUF, '--data', train, '--holdout', holdout, '--out', out, '--steps', '200', '--lr', '3e-3', '--batch-size', '16', '--eval-every', '50', '--save-every', '200');
    const after = score('--model', path.join(out, 'model'));
    process.stdout.write(`result: diagnostic codes, exact match on ${after.n} held-out pairs: before ${before.score.toFixed(3)}, after ${after.score.toFixed(3)}\n`);
    assert.equal(before.n, 32);
    assert.ok(before.score < 0.1, `before: ${before.score}`);
    assert.ok(after.score > 0.6, `after: ${after.score}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('LoRA and full fine-tuning on WikiText-2 for the same tokens: both learn it; TinyStories loss before and after', { skip: sharedSkip, timeout: 600_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-lvf-'));
  try {
    const wikiHoldout = path.join(dir, 'wiki-holdout.txt');
    writeFileSync(wikiHoldout, readFileSync(sharedPath('holdout-text/wikitext-2/test.txt'), 'utf8').slice(0, 60_000));
    const stories = path.join(dir, 'stories.txt');
    writeFileSync(stories, readFileSync(sharedPath('holdout-text/tinystories_val_slice.txt'), 'utf8').slice(0, 30_000));
    const nll = (model: string[], text: string) => (JSON.parse(whet('perplexity', ...model, '--text', text, '--json')) as { nll: number }).nll;
    const base = ['--model', STORIES_GGUF];
    const rows = [{ name: 'base', wiki: nll(base, wikiHoldout), stories: nll(base, stories) }];
    // Same data, packing and steps, so both runs see the same tokens (packed rows of 256, 8 per step).
    const common = ['--model', STORIES_GGUF, '--data', sharedPath('holdout-text/wikitext-2/valid.txt'), '--holdout-fraction', '0', '--packing', '--max-length', '256', '--batch-size', '8', '--steps', '80', '--save-every', '80', '--eval-every', '0', '--seed', '1'];
    for (const method of ['full', 'lora'] as const) {
      const out = path.join(dir, method);
      whet('train', ...common, '--method', method, '--out', out, '--lr', method === 'full' ? '1e-3' : '3e-3', '--rank', '16', '--alpha', '32');
      const tuned = method === 'full' ? ['--model', path.join(out, 'model')] : [...base, '--adapter', path.join(out, 'adapter')];
      rows.push({ name: method, wiki: nll(tuned, wikiHoldout), stories: nll(tuned, stories) });
    }
    for (const r of rows) process.stdout.write(`result: ${r.name.padEnd(4)}  WikiText-2 holdout NLL ${r.wiki.toFixed(3)}   TinyStories holdout NLL ${r.stories.toFixed(3)}\n`);
    const [b, full, lora] = rows as [typeof rows[0], typeof rows[0], typeof rows[0]];
    assert.ok(full.wiki < b.wiki - 0.5, 'full fine-tuning lowers the WikiText-2 loss');
    assert.ok(lora.wiki < b.wiki - 0.5, 'LoRA lowers the WikiText-2 loss');
    assert.ok(full.stories > b.stories && lora.stories > b.stories, 'both forget some TinyStories');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
