// `whet bench train --realistic`: LoRA training of a SmolLM2-135M-shaped model (random weights, frozen bf16 base)
// as a real run goes — variable-length examples from a seeded length distribution, batch 8, padded batches grouped
// by length or packed rows, with and without holdout evaluation, through the SFT recipe's own batching, loss,
// evaluation and training loop — against a fixed-shape run at the same tokens per step (speed) and against the
// analytic memory estimate (peak RSS). Each row runs in its own process so its peak memory is its own.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { WhetError } from '../errors.ts';
import { configFromHf } from '../model/config.ts';
import { LlamaModel } from '../model/llama.ts';
import { applyLora, setLoraTraining } from '../adapters/apply.ts';
import type { TokenizedExample } from '../data/tokenize.ts';
import { bucketLength } from '../data/batch.ts';
import { IGNORE_INDEX } from '../tensor/ops/loss.ts';
import { Rng } from '../tensor/random.ts';
import { trimPool } from '../tensor/pool.ts';
import { train } from '../train/trainer.ts';
import { estimateTrainingMemory } from '../train/memory-estimate.ts';
import { holdoutEvaluator, sftBatchSource, sftLoss } from '../recipes/sft-steps.ts';
import { round } from './probes.ts';
import { SMOLLM2_135M } from './decode.ts';

const BATCH = 8;
const MAX_LENGTH = 512;
const TRAIN_EXAMPLES = 400;
const HOLDOUT_EXAMPLES = 49;
const PAD = 0;
const DROPOUT = 0.05; // whet train's default
const ACTIVATIONS = 'bf16'; // whet train's default (auto) with a bf16 base

export interface RealisticRow {
  vocab: number;
  /** padded: grouped by length; packed: rows of MAX_LENGTH; fixed: every example MAX_LENGTH·fixedFraction long, no padding. */
  batching: 'padded' | 'packed' | 'fixed';
  holdout: boolean;
  /** For fixed rows: the example length (tokens per step / BATCH of the row it is compared with). */
  fixedLength?: number;
}

interface ChildResult {
  tokens_per_s: number;
  tokens_per_step: number;
  max_step_tokens: number;
  padding: number;
  eval_s?: number;
  step_s: number;
  peak_rss_mb: number;
  estimate_mb: number;
}

/**
 * Example lengths like an instruction dataset's (log-normal, median 160 tokens, long tail cut at MAX_LENGTH;
 * the Alpaca demo set has median 162, p95 451 with the GPT-2 vocabulary), the first 30% of each a prompt without loss.
 */
function syntheticExamples(n: number, vocab: number, seed: number, fixedLength?: number): TokenizedExample[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const len = fixedLength ?? Math.max(32, Math.min(MAX_LENGTH, Math.round(160 * Math.exp(0.6 * rng.normal()))));
    const ids = Int32Array.from({ length: len }, () => 1 + rng.int(vocab - 1)); // never PAD, so padding can be counted
    const labels = Int32Array.from(ids, (id, t) => (t < Math.ceil(0.3 * len) ? IGNORE_INDEX : id));
    return { ids, labels, truncated: 0 };
  });
}

function label(r: RealisticRow): string {
  const what = r.batching === 'fixed' ? `fixed ${BATCH}x${r.fixedLength}` : `${r.batching}${r.holdout ? '+holdout' : ''}`;
  return `vocab ${Math.round(r.vocab / 1000)}K ${what}`;
}

export async function benchTrainRealistic(opts: { json: boolean; quick: boolean }): Promise<void> {
  const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/whet.js');
  const run = (row: RealisticRow): ChildResult => {
    const child = spawnSync(process.execPath, ['--expose-gc', bin, 'bench', 'train-child', 'realistic', JSON.stringify(row), ...(opts.quick ? ['--quick'] : [])], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (child.status !== 0) throw new WhetError(`bench train --realistic (${label(row)}) failed: ${child.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return JSON.parse(child.stdout.trim().split('\n').pop()!) as ChildResult;
  };
  process.stderr.write(`bench train --realistic: SmolLM2-135M shape, LoRA r16 all-linear (dropout ${DROPOUT}) on a bf16 base, MLP activations kept in ${ACTIVATIONS}, batch ${BATCH}, max length ${MAX_LENGTH}, lengths log-normal (median 160)\n`);
  for (const vocab of opts.quick ? [50257] : [50257, 151936]) {
    const rows: RealisticRow[] = opts.quick || vocab > 1e5 ? [{ vocab, batching: 'padded', holdout: false }] : [
      { vocab, batching: 'padded', holdout: false },
      { vocab, batching: 'padded', holdout: true },
      { vocab, batching: 'packed', holdout: false },
    ];
    let fixed: { length: number; result: ChildResult } | undefined;
    for (const row of rows) {
      const r = run(row);
      const length = bucketLength(Math.round(r.tokens_per_step / BATCH), MAX_LENGTH); // a bucket: the fixed row has no padding
      if (fixed === undefined || fixed.length !== length) fixed = { length, result: run({ vocab, batching: 'fixed', holdout: false, fixedLength: length }) };
      print(opts.json, row, r, fixed.result);
    }
    if (fixed !== undefined) print(opts.json, { vocab, batching: 'fixed', holdout: false, fixedLength: fixed.length }, fixed.result, fixed.result);
  }
}

function print(json: boolean, row: RealisticRow, r: ChildResult, fixed: ChildResult): void {
  const speed = r.tokens_per_s / fixed.tokens_per_s;
  const memory = r.peak_rss_mb / r.estimate_mb;
  // A 100-step run with the recipe's defaults evaluates before training, at step 50 and at step 100.
  const evalShare = r.eval_s === undefined ? undefined : (3 * r.eval_s) / (100 * r.step_s + 3 * r.eval_s);
  if (json) {
    const o = { op: 'train-realistic', vocab: row.vocab, batching: row.batching, holdout: row.holdout, batch: BATCH, tokens_per_step: Math.round(r.tokens_per_step), padding: round(r.padding, 3), tokens_per_s: round(r.tokens_per_s), fixed_tokens_per_s: round(fixed.tokens_per_s), ratio_to_fixed: round(speed, 2), peak_rss_mb: Math.round(r.peak_rss_mb), estimate_mb: Math.round(r.estimate_mb), ratio_to_estimate: round(memory, 2), eval_s: r.eval_s === undefined ? undefined : round(r.eval_s, 2), eval_share_100_steps: evalShare === undefined ? undefined : round(evalShare, 3) };
    process.stdout.write(JSON.stringify(o) + '\n');
    return;
  }
  const evalPart = r.eval_s === undefined ? '' : `  holdout eval ${r.eval_s.toFixed(1)} s (${(100 * evalShare!).toFixed(1)}% of a 100-step run)`;
  process.stdout.write(
    `train-realistic ${label(row).padEnd(24)} ${Math.round(r.tokens_per_step).toString().padStart(5)} tok/step  pad ${(100 * r.padding).toFixed(0).padStart(2)}%  ${r.tokens_per_s.toFixed(0).padStart(4)} tok/s  fixed ${fixed.tokens_per_s.toFixed(0)}  ratio ${speed.toFixed(2)}  peak RSS ${r.peak_rss_mb.toFixed(0)} MB  estimate ${r.estimate_mb.toFixed(0)} MB (largest step ${r.max_step_tokens} tok)  ratio ${memory.toFixed(2)}${evalPart}\n`,
  );
}

/** One row, in a child process: prints a ChildResult as JSON. */
export async function benchTrainRealisticChild(row: RealisticRow, quick: boolean): Promise<void> {
  const runtimeBytes = process.memoryUsage().rss; // node and the code, before any tensor
  const cfg = configFromHf({ ...SMOLLM2_135M, vocab_size: row.vocab });
  const model = LlamaModel.random(cfg, new Rng(1), { dtype: 'bf16' });
  const [first] = applyLora(model, { r: 16, alpha: 32, dropout: DROPOUT, targetModules: 'all-linear', seed: 1 });
  trimPool(); // the f32 buffers random init made the bf16 weights from
  (globalThis as { gc?: () => void }).gc?.(); // and return them now: a loaded model never makes them
  const examples = syntheticExamples(TRAIN_EXAMPLES, row.vocab, 7, row.fixedLength);
  const holdout = row.holdout ? syntheticExamples(HOLDOUT_EXAMPLES, row.vocab, 8) : [];
  const sftOptions = { packing: row.batching === 'packed', max_length: MAX_LENGTH, batch_size: BATCH, seed: 0, group_by_length: row.batching === 'padded', max_batch_tokens: 0 };
  const { batches } = sftBatchSource(examples, sftOptions, PAD);
  const evaluate = row.holdout ? holdoutEvaluator(model, holdout, PAD, BATCH * MAX_LENGTH, true) : undefined;
  setLoraTraining(model, true);
  const outDir = mkdtempSync(path.join(tmpdir(), 'whet-bench-'));
  const steps = quick ? 3 : 9;
  const timed: { tokens: number; secs: number; padding: number }[] = [];
  let maxStepTokens = 0;
  const loss = sftLoss(model, { checkpoint: false, rngs: [first!.dropoutRng], activations: ACTIVATIONS });
  try {
    await train({
      params: new Map(model.namedTensors().filter(([, t]) => t.requiresGrad)),
      loss: (b) => {
        maxStepTokens = Math.max(maxStepTokens, b.ids.length);
        timed.push({ tokens: b.ids.length, secs: 0, padding: b.ids.filter((id) => id === PAD).length / b.ids.length });
        return loss(b);
      },
      batches,
      steps,
      lr: 1e-4,
      outDir,
      saveEvery: 0,
      onStep: (m) => (timed[m.step - 1]!.secs = m.tokens / m.tokens_per_s),
    });
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
  const evalSecs = evaluate === undefined ? undefined : time(evaluate);
  const measured = timed.slice(1); // the first step faults in every buffer; later ones reuse them
  const tokens = measured.reduce((n, s) => n + s.tokens, 0);
  const secs = measured.reduce((n, s) => n + s.secs, 0);
  const estimate = estimateTrainingMemory(model, { tokens: maxStepTokens, activations: ACTIVATIONS });
  const result: ChildResult = {
    tokens_per_s: tokens / secs,
    tokens_per_step: tokens / measured.length,
    max_step_tokens: maxStepTokens,
    padding: timed.reduce((n, s) => n + s.padding * s.tokens, 0) / timed.reduce((n, s) => n + s.tokens, 0),
    eval_s: evalSecs,
    step_s: secs / measured.length,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    estimate_mb: (estimate.totalBytes + runtimeBytes) / 2 ** 20,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

function time(fn: () => unknown): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}
