// `whet bench train`: training tokens/s and model-FLOP utilisation (MFU) of a SmolLM2-135M-shaped model at
// sequence length 512, for LoRA (r=16, all linear layers, frozen bf16 base) and full fine-tuning, each in
// its own process so its peak resident memory is its own.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { loadAddon } from '../backend/addon.ts';
import { WhetError } from '../errors.ts';
import { configFromHf } from '../model/config.ts';
import { LlamaModel } from '../model/llama.ts';
import { applyLora } from '../adapters/apply.ts';
import { AdamW } from '../optim/adamw.ts';
import { backward } from '../tensor/autograd.ts';
import { linearCrossEntropy } from '../tensor/ops/linear-loss.ts';
import { Rng } from '../tensor/random.ts';
import { tidy } from '../tensor/tensor.ts';
import { trimPool } from '../tensor/pool.ts';
import { fmaPeakGflops, round } from './probes.ts';
import { SMOLLM2_135M } from './decode.ts';

const SEQ = 512;
const BATCH = 1;

interface ChildResult {
  method: 'lora' | 'full';
  tokens_per_s: number;
  flops_per_token: number;
  peak_rss_mb: number;
}

export async function benchTrain(opts: { json: boolean; quick: boolean }): Promise<void> {
  const addon = loadAddon();
  if (addon === null) throw new WhetError('bench train needs the native addon (npm run build:native)');
  const peak = fmaPeakGflops(addon, addon.numThreads(), opts.quick ? 0.2 : 1);
  process.stderr.write(`bench train: SmolLM2-135M shape, batch ${BATCH} × seq ${SEQ}, isa ${addon.isa()}, threads ${addon.numThreads()}, FMA peak ${peak.toFixed(1)} GFLOP/s\n`);
  const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/whet.js');
  for (const method of ['lora', 'full'] as const) {
    const child = spawnSync(process.execPath, [bin, 'bench', 'train-child', method, ...(opts.quick ? ['--quick'] : [])], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (child.status !== 0) throw new WhetError(`bench train (${method}) failed: ${child.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const r = JSON.parse(child.stdout.trim().split('\n').pop()!) as ChildResult;
    const mfu = (r.flops_per_token * r.tokens_per_s) / (peak * 1e9);
    if (opts.json) process.stdout.write(JSON.stringify({ op: 'train', method, seq: SEQ, batch: BATCH, tokens_per_s: round(r.tokens_per_s), mfu: round(mfu, 3), peak_rss_mb: Math.round(r.peak_rss_mb), peak_gflops: round(peak) }) + '\n');
    else
      process.stdout.write(
        `train ${method.padEnd(4)} seq ${SEQ}  ${r.tokens_per_s.toFixed(0).padStart(6)} tok/s  MFU ${mfu.toFixed(3)} (${((r.flops_per_token * r.tokens_per_s) / 1e9).toFixed(1)} of ${peak.toFixed(0)} GFLOP/s peak)  peak RSS ${r.peak_rss_mb.toFixed(0)} MB\n`,
      );
  }
}

/** One method's measurement, run in a child process: prints a ChildResult as JSON. */
export async function benchTrainChild(method: 'lora' | 'full', quick: boolean): Promise<void> {
  const cfg = configFromHf(SMOLLM2_135M);
  const rng = new Rng(1);
  const model = LlamaModel.random(cfg, rng, { dtype: method === 'lora' ? 'bf16' : 'f32' });
  if (method === 'lora') applyLora(model, { r: 16, alpha: 32, dropout: 0, targetModules: 'all-linear', seed: 1 });
  trimPool(); // the f32 buffers random init made the bf16 weights from
  const params = model.parameters();
  const opt = new AdamW(params, { lr: 1e-4 });
  const ids = Int32Array.from({ length: BATCH * SEQ }, (_, i) => (i * 7919) % cfg.vocabSize);
  const targets = Int32Array.from({ length: BATCH * SEQ }, (_, i) => (i * 104729 + 1) % cfg.vocabSize);
  const step = (): void =>
    tidy(() => {
      const loss = linearCrossEntropy(model.forward(ids, BATCH), model.headWeight(), targets); // as SFT computes it
      backward(loss);
      opt.update();
      opt.zeroGrad();
    });
  step(); // warm-up: pools, packing buffers, thread state
  const steps = quick ? 1 : 3;
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const secs = (performance.now() - t0) / 1000;
  // Model FLOPs per token: every matrix (the tied embedding acts as the output head) costs 2 per parameter
  // forward and 2 for the input gradient; trainable ones 2 more for the weight gradient. Attention
  // (causal): 2·2·(T/2)·H·E per layer forward, twice that backward. Recomputation would not count.
  const frozenMatrix = model.namedTensors().filter(([n, t]) => t.rank === 2 && !t.requiresGrad && !n.includes('lora_')).reduce((s, [, t]) => s + t.size, 0);
  const trainable = params.reduce((s, p) => s + p.size, 0);
  const attention = 3 * 2 * 2 * (SEQ / 2) * cfg.numHeads * cfg.headDim * cfg.numLayers;
  const flopsPerToken = 4 * frozenMatrix + 6 * trainable + attention;
  const result: ChildResult = { method, tokens_per_s: (steps * BATCH * SEQ) / secs, flops_per_token: flopsPerToken, peak_rss_mb: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(JSON.stringify(result) + '\n');
}
