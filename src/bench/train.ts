// `whet bench train`: training tokens/s and model-FLOP utilisation (MFU) of a SmolLM2-135M-shaped model at
// sequence length 512, for LoRA (r=16, all linear layers, frozen bf16 base) and full fine-tuning, each in
// its own process so its peak resident memory is its own; `--method reward|dpo` adds the preference rows
// (train-preference.ts) beside a LoRA SFT row at their rows × length; `--method rl` the GRPO row (train-rl.ts).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { loadAddon } from '../backend/addon.ts';
import { WhetError } from '../errors.ts';
import { configFromHf, type ModelConfig } from '../model/config.ts';
import { LlamaModel } from '../model/llama.ts';
import { applyLora, type LoraConfig } from '../adapters/apply.ts';
import { AdamW } from '../optim/adamw.ts';
import { backward } from '../tensor/autograd.ts';
import { linearCrossEntropy } from '../tensor/ops/linear-loss.ts';
import { Rng } from '../tensor/random.ts';
import { tidy } from '../tensor/tensor.ts';
import { trimPool } from '../tensor/pool.ts';
import { fmaPeakGflops, round } from './probes.ts';
import { SMOLLM2_135M } from './decode.ts';

export const SEQ = 512;
const BATCH = 1;
/** The LoRA of the lora, reward and dpo rows: PEFT's all-linear at r 16, no dropout (nothing random per step). */
export const BENCH_LORA: LoraConfig = { r: 16, alpha: 32, dropout: 0, targetModules: 'all-linear', seed: 1 };
/**
 * A preference row processes as many sequences a step as an SFT row: BATCH/2 pairs of two answers; with BATCH 1
 * that is no whole pair, so it takes one pair (2 rows) and is compared with a LoRA SFT row of 2 rows instead.
 */
const PAIRS = Math.max(1, Math.floor(BATCH / 2));
const PAIR_ROWS = 2 * PAIRS;
/** Tokens of the prompt a pair's answers share (no loss on them); the answers fill the rest of SEQ. */
export const PREFERENCE_PROMPT = SEQ / 4;

/** The RL row: prompts a step × completions sampled per prompt (a GRPO group), as the recipe's defaults. */
const RL_PROMPTS = 4;
export const RL_GENERATIONS = 4;

export type TrainMethod = 'sft' | 'reward' | 'dpo' | 'rl' | 'all';
export type RowMethod = 'lora' | 'full' | 'reward' | 'dpo' | 'rl';

interface Row {
  method: RowMethod;
  /** Sequences of SEQ tokens a step (a preference row's: both answers of each pair). */
  batch: number;
}

export interface ChildResult {
  method: Exclude<RowMethod, 'rl'>;
  tokens_per_s: number;
  flops_per_token: number;
  peak_rss_mb: number;
}

/** The RL row's measurement (train-rl.ts): per-phase seconds are means per timed step. */
export interface RlChildResult {
  method: 'rl';
  prompts: number;
  generations: number;
  prompt_tokens: number;
  completion_tokens: number;
  rollout_tokens_per_s: number;
  train_tokens_per_s: number;
  train_flops_per_token: number;
  generation_s: number;
  logps_s: number;
  train_s: number;
  peak_rss_mb: number;
}

/** The rows a --method runs, in order: each preference row after the LoRA SFT row its memory is compared with. */
function rowsFor(method: TrainMethod): Row[] {
  const sft: Row[] = [{ method: 'lora', batch: BATCH }, { method: 'full', batch: BATCH }];
  const twin: Row[] = method === 'all' && PAIR_ROWS === BATCH ? [] : [{ method: 'lora', batch: PAIR_ROWS }];
  const rl: Row = { method: 'rl', batch: RL_PROMPTS * RL_GENERATIONS };
  if (method === 'sft') return sft;
  if (method === 'rl') return [rl];
  if (method === 'all') return [...sft, ...twin, { method: 'reward', batch: PAIR_ROWS }, { method: 'dpo', batch: PAIR_ROWS }, rl];
  return [...twin, { method, batch: PAIR_ROWS }];
}

/** The RL row's line (or JSON object): training tok/s and MFU in the SFT rows' columns, then rollout tok/s and the time split. */
function rlLine(r: RlChildResult, peak: number, json: boolean): string {
  const step = r.generation_s + r.logps_s + r.train_s;
  const share = { generation: r.generation_s / step, logps: r.logps_s / step, train: r.train_s / step };
  const achieved = r.train_flops_per_token * r.train_tokens_per_s; // FLOP/s of the training phase
  const mfu = achieved / (peak * 1e9);
  const seq = r.prompt_tokens + r.completion_tokens;
  const batch = r.prompts * r.generations;
  if (json)
    return JSON.stringify({
      op: 'train', method: 'rl', seq, batch, prompts: r.prompts, generations: r.generations, prompt_tokens: r.prompt_tokens, completion_tokens: r.completion_tokens,
      rollout_tokens_per_s: round(r.rollout_tokens_per_s), train_tokens_per_s: round(r.train_tokens_per_s), tokens_per_s: round(r.train_tokens_per_s),
      generation_share: round(share.generation, 3), logps_share: round(share.logps, 3), train_share: round(share.train, 3), step_s: round(step, 3),
      mfu: round(mfu, 3), peak_rss_mb: Math.round(r.peak_rss_mb), peak_gflops: round(peak),
    });
  const pct = (x: number): string => `${(100 * x).toFixed(0)}%`;
  return (
    `train ${'rl'.padEnd(6)} seq ${seq} × ${batch}  ${r.train_tokens_per_s.toFixed(0).padStart(6)} tok/s  MFU ${mfu.toFixed(3)} (${(achieved / 1e9).toFixed(1)} of ${peak.toFixed(0)} GFLOP/s peak)  peak RSS ${r.peak_rss_mb.toFixed(0)} MB` +
    `  rollout ${r.rollout_tokens_per_s.toFixed(1)} tok/s; step ${step.toFixed(2)} s: generation ${pct(share.generation)}, ref log-probs ${pct(share.logps)}, training ${pct(share.train)}`
  );
}

export async function benchTrain(opts: { json: boolean; quick: boolean; method?: TrainMethod }): Promise<void> {
  const addon = loadAddon();
  if (addon === null) throw new WhetError('bench train needs the native addon (npm run build:native)');
  const which = opts.method ?? 'sft';
  const peak = fmaPeakGflops(addon, addon.numThreads(), opts.quick ? 0.2 : 1);
  process.stderr.write(`bench train: SmolLM2-135M shape, batch ${BATCH} × seq ${SEQ}, isa ${addon.isa()}, threads ${addon.numThreads()}, FMA peak ${peak.toFixed(1)} GFLOP/s\n`);
  if (which !== 'sft' && which !== 'rl')
    process.stderr.write(
      `preference rows: ${PAIRS} pair${PAIRS > 1 ? 's' : ''} a step = ${PAIR_ROWS} rows (chosen, rejected) × seq ${SEQ}, a ${PREFERENCE_PROMPT}-token prompt shared; peak RSS against LoRA SFT at ${PAIR_ROWS} × ${SEQ}; tok/s counts both answers, DPO's FLOPs include its reference forward (adapter off)\n`,
    );
  if (which === 'rl' || which === 'all')
    process.stderr.write(
      `rl row: GRPO, LoRA as above, ${RL_PROMPTS} prompts × ${RL_GENERATIONS} completions a step (seq = prompt + completion tokens), random rewards, reference = adapter off (β 0.04); rollout tok/s = completion tokens / generation s; tok/s and MFU = the training phase (prompt + completion rows, loss forward + backward + AdamW)\n`,
    );
  const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/whet.js');
  const done: (Row & { r: ChildResult })[] = [];
  for (const row of rowsFor(which)) {
    const { method, batch } = row;
    const child = spawnSync(process.execPath, [bin, 'bench', 'train-child', method, String(batch), ...(opts.quick ? ['--quick'] : [])], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (child.status !== 0) throw new WhetError(`bench train (${method}) failed: ${child.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const last = JSON.parse(child.stdout.trim().split('\n').pop()!) as ChildResult | RlChildResult;
    if (last.method === 'rl') {
      process.stdout.write(rlLine(last, peak, opts.json) + '\n');
      continue;
    }
    const r = last;
    done.push({ ...row, r });
    const mfu = (r.flops_per_token * r.tokens_per_s) / (peak * 1e9);
    const preference = method === 'reward' || method === 'dpo';
    const sft = preference ? done.find((d) => d.method === 'lora' && d.batch === batch)!.r : undefined;
    const vsSft = sft === undefined ? undefined : r.peak_rss_mb / sft.peak_rss_mb;
    if (opts.json)
      process.stdout.write(
        JSON.stringify({
          op: 'train', method, seq: SEQ, batch, ...(preference ? { pairs: batch / 2 } : {}), tokens_per_s: round(r.tokens_per_s), mfu: round(mfu, 3), peak_rss_mb: Math.round(r.peak_rss_mb), peak_gflops: round(peak),
          ...(vsSft !== undefined ? { rss_vs_sft: round(vsSft, 2) } : {}),
        }) + '\n',
      );
    else {
      // --method sft prints today's lines exactly; the others name each row's batch, as their batches differ
      const shape = which === 'sft' ? `${method.padEnd(4)} seq ${SEQ}` : `${method.padEnd(6)} seq ${SEQ} × ${batch}`;
      const ratio = vsSft === undefined ? '' : ` (${vsSft.toFixed(2)}× LoRA SFT at ${batch} × ${SEQ})`;
      process.stdout.write(
        `train ${shape}  ${r.tokens_per_s.toFixed(0).padStart(6)} tok/s  MFU ${mfu.toFixed(3)} (${((r.flops_per_token * r.tokens_per_s) / 1e9).toFixed(1)} of ${peak.toFixed(0)} GFLOP/s peak)  peak RSS ${r.peak_rss_mb.toFixed(0)} MB${ratio}\n`,
      );
    }
  }
}

/** Seconds per step of `step`, after one warm-up step (pools, packing buffers, thread state). */
export function secondsPerStep(step: () => void, quick: boolean): number {
  step();
  const steps = quick ? 1 : 3;
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  return (performance.now() - t0) / 1000 / steps;
}

/** Causal attention's forward FLOPs per token (scores and weighted sum: 2·2·(T/2)·H·E a layer); backward is twice that. */
export function attentionForwardFlops(cfg: ModelConfig, seq: number): number {
  return 2 * 2 * (seq / 2) * cfg.numHeads * cfg.headDim * cfg.numLayers;
}

/** One SFT method's measurement at `batch` sequences a step, run in a child process: prints a ChildResult as JSON. */
export async function benchTrainChild(method: 'lora' | 'full', quick: boolean, batch = BATCH): Promise<void> {
  const cfg = configFromHf(SMOLLM2_135M);
  const rng = new Rng(1);
  const model = LlamaModel.random(cfg, rng, { dtype: method === 'lora' ? 'bf16' : 'f32' });
  if (method === 'lora') applyLora(model, BENCH_LORA);
  trimPool(); // the f32 buffers random init made the bf16 weights from
  const params = model.parameters();
  const opt = new AdamW(params, { lr: 1e-4 });
  const ids = Int32Array.from({ length: batch * SEQ }, (_, i) => (i * 7919) % cfg.vocabSize);
  const targets = Int32Array.from({ length: batch * SEQ }, (_, i) => (i * 104729 + 1) % cfg.vocabSize);
  const step = (): void =>
    tidy(() => {
      const loss = linearCrossEntropy(model.forward(ids, batch), model.headWeight(), targets); // as SFT computes it
      backward(loss);
      opt.update();
      opt.zeroGrad();
    });
  const secs = secondsPerStep(step, quick);
  // Model FLOPs per token: every matrix (the tied embedding acts as the output head) costs 2 per parameter
  // forward and 2 for the input gradient; trainable ones 2 more for the weight gradient. Attention
  // (causal): 2·2·(T/2)·H·E per layer forward, twice that backward. Recomputation would not count.
  const frozenMatrix = model.namedTensors().filter(([n, t]) => t.rank === 2 && !t.requiresGrad && !n.includes('lora_')).reduce((s, [, t]) => s + t.size, 0);
  const trainable = params.reduce((s, p) => s + p.size, 0);
  const attention = 3 * attentionForwardFlops(cfg, SEQ);
  const flopsPerToken = 4 * frozenMatrix + 6 * trainable + attention;
  const result: ChildResult = { method, tokens_per_s: (batch * SEQ) / secs, flops_per_token: flopsPerToken, peak_rss_mb: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(JSON.stringify(result) + '\n');
}
