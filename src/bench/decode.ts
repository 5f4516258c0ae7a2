// `whet bench decode`: prefill, single-stream decode and batched decode tokens/s of a model file or of a
// SmolLM2-135M-shaped model with random weights in each weight type, each against its bound: the memory bandwidth
// (every weight read once per decode step, for all rows of a batch) or the FMA peak (every weight's 2 FLOPs per token).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../backend/addon.ts';
import { WhetError } from '../errors.ts';
import { configFromHf, type ModelConfig } from '../model/config.ts';
import { KVCache } from '../model/kv-cache.ts';
import { LlamaModel } from '../model/llama.ts';
import { loadModel } from '../model/load.ts';
import { resolveModelPath } from '../hub/cache.ts';
import type { FrozenDType } from '../model/frozen-weights.ts';
import { argmax } from '../generate/sampling.ts';
import { noGrad } from '../tensor/grad-mode.ts';
import { Rng } from '../tensor/random.ts';
import { tidy } from '../tensor/tensor.ts';
import { narrow, reshape } from '../tensor/ops/shape.ts';
import { fmaPeakGflops, memBandwidthGBps, round } from './probes.ts';

export const SMOLLM2_135M = {
  model_type: 'llama', hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9,
  num_key_value_heads: 3, vocab_size: 49152, rms_norm_eps: 1e-5, rope_theta: 100000, max_position_embeddings: 8192, tie_word_embeddings: true,
};

export type DecodeDType = 'f32' | FrozenDType;
/** The weight types the built-in model is measured in, when --dtype does not pick some. */
export const DECODE_DTYPES: readonly DecodeDType[] = ['bf16', 'f32', 'q8_0', 'q4_0', 'q4_k'];

export interface DecodeBenchOptions {
  json: boolean;
  quick: boolean;
  /** A model file or folder to measure instead of the random 135M shape. */
  model?: string;
  /** Weight types to measure (the built-in model: all of DECODE_DTYPES; a model file: as stored). */
  dtypes?: DecodeDType[];
  /** Sequences of the batched-decode row. */
  batch?: number;
  /** A bench-anchor scratch folder (node-llama-cpp installed): llama.cpp measures the same --model file, in rounds alternating with ours. */
  anchor?: string;
}

/** One result line, as --json prints it. */
export interface DecodeRow {
  op: 'decode';
  phase: 'prefill' | 'decode' | 'decode-batch';
  dtype: string;
  prompt_tokens: number;
  batch: number;
  tokens_per_s: number;
  bound_tokens_per_s: number;
  ratio: number;
  peak_rss_mb: number;
  /** decode-batch: aggregate tokens/s over the single stream's. */
  vs_single?: number;
}

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/whet.js');

/** Rounds of ours-then-llama.cpp with --anchor: the machine's load drifts within minutes, so each side's median
 * of alternating rounds is compared, not two runs minutes apart. */
const ANCHOR_ROUNDS = 3;

/**
 * Each weight type in its own process, so that every row's peak RSS is its own model's. With an anchor, that
 * process and llama.cpp's alternate for ANCHOR_ROUNDS rounds and each phase prints the median round.
 */
export async function benchDecode(opts: DecodeBenchOptions): Promise<void> {
  const addon = loadAddon();
  if (addon === null) throw new WhetError('bench decode needs the native addon (npm run build:native)');
  const dtypes = opts.dtypes ?? (opts.model === undefined ? DECODE_DTYPES : [undefined]);
  const what = opts.model ?? 'SmolLM2-135M shape, random weights';
  const threads = addon.numThreads();
  process.stderr.write(`bench decode: ${what}, isa ${addon.isa()}, threads ${threads}; bound: decode = memory bandwidth over the weight bytes a step reads, prefill = FMA peak (bf16 on AVX512_BF16: twice it) over 2 FLOPs per weight per token\n`);
  const rounds = opts.anchor === undefined || opts.quick ? 1 : ANCHOR_ROUNDS;
  for (const dtype of dtypes) {
    const ours: (DecodeRow & { against: string })[][] = [];
    const theirs: LlamaCppResult[] = [];
    for (let r = 0; r < rounds; r++) {
      ours.push(runOurs(opts, dtype));
      if (opts.anchor !== undefined) theirs.push(runLlamaCpp(opts, threads));
    }
    const rows = ours[0]!.map((row) => medianBy(ours.map((round) => round.find((x) => x.phase === row.phase)!), (x) => x.tokens_per_s));
    for (const row of rows) {
      const { against, ...json } = row;
      if (opts.json) process.stdout.write(JSON.stringify(json) + '\n');
      else process.stdout.write(formatRow(row, against) + '\n');
    }
    if (opts.anchor !== undefined) printComparison(opts, rows, theirs, threads);
  }
}

function runOurs(opts: DecodeBenchOptions, dtype: DecodeDType | undefined): (DecodeRow & { against: string })[] {
  const args = [BIN, 'bench', 'decode-child', JSON.stringify({ ...opts, dtypes: undefined, dtype, json: true })];
  const child = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.status !== 0) throw new WhetError(`bench decode (${dtype ?? 'as stored'}) failed: ${child.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return child.stdout.trim().split('\n').map((line) => JSON.parse(line) as DecodeRow & { against: string });
}

/** The element whose key is the median of the keys (the upper one of an even count). */
export function medianBy<T>(xs: readonly T[], key: (x: T) => number): T {
  return [...xs].sort((a, b) => key(a) - key(b))[xs.length >> 1]!;
}

const ANCHOR_SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/bench-anchor/bench_llamacpp.mjs');

interface LlamaCppResult {
  pp_tok_s: number;
  tg_d0_tok_s: number;
  peak_rss_MiB: number;
}

/** One run of ../shared/bench-anchor's llama.cpp measurement on the same --model file. */
function runLlamaCpp(opts: DecodeBenchOptions, threads: number): LlamaCppResult {
  const file = opts.model === undefined ? undefined : resolveModelPath(opts.model);
  if (file === undefined || !file.endsWith('.gguf')) throw new WhetError('--anchor compares with llama.cpp on the same GGUF file: give it with --model');
  const script = process.env.WHET_ANCHOR_SCRIPT ?? ANCHOR_SCRIPT;
  const args = [script, '--model', path.resolve(file), '--threads', String(threads), '--runs', opts.quick ? '1' : '3', '--nlc-dir', path.resolve(opts.anchor!)];
  if (opts.quick) args.push('--prompt', '64', '--gen', '16');
  const child = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 16 << 20, env: { ...process.env, UV_THREADPOOL_SIZE: '1' } });
  const last = child.stdout?.trim().split('\n').pop() ?? '';
  if (child.status !== 0 || !last.startsWith('{')) throw new WhetError(`llama.cpp anchor failed (${script}): ${(child.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(last) as LlamaCppResult;
}

/** Each phase's ratio of our median round to llama.cpp's. */
function printComparison(opts: DecodeBenchOptions, rows: DecodeRow[], theirs: LlamaCppResult[], threads: number): void {
  const rss = Math.round(Math.max(...theirs.map((t) => t.peak_rss_MiB)) * 1.048576);
  const rounds = theirs.length === 1 ? '' : `; median of ${theirs.length} rounds alternating with ours`;
  const pairs = [
    { phase: 'prefill', ours: rows.find((r) => r.phase === 'prefill')!, llama: medianBy(theirs, (t) => t.pp_tok_s).pp_tok_s },
    { phase: 'decode', ours: rows.find((r) => r.phase === 'decode')!, llama: medianBy(theirs, (t) => t.tg_d0_tok_s).tg_d0_tok_s },
  ];
  for (const { phase, ours, llama } of pairs) {
    const ratio = ours.tokens_per_s / llama;
    if (opts.json) process.stdout.write(JSON.stringify({ op: 'decode-vs-llamacpp', phase, dtype: ours.dtype, prompt_tokens: ours.prompt_tokens, tokens_per_s: ours.tokens_per_s, llamacpp_tokens_per_s: llama, ratio: round(ratio, 3), rounds: theirs.length, llamacpp_peak_rss_mb: rss }) + '\n');
    else process.stdout.write(`decode ${phase.padEnd(12)} ${ours.dtype.padEnd(5)} vs llama.cpp ${llama.toFixed(1).padStart(8)} tok/s (node-llama-cpp, same file, ${threads} threads${rounds})  ratio ${ratio.toFixed(2)}  llama.cpp peak RSS ${rss} MB\n`);
  }
}

function formatRow(r: DecodeRow, against: string): string {
  const shape = r.phase === 'prefill' ? `${r.prompt_tokens}-token prompt` : r.phase === 'decode' ? '1 stream' : `${r.batch} streams`;
  const single = r.vs_single === undefined ? '' : ` (${r.vs_single.toFixed(2)}× 1 stream)`;
  return `decode ${r.phase.padEnd(12)} ${r.dtype.padEnd(5)} ${shape.padEnd(17)} ${r.tokens_per_s.toFixed(1).padStart(8)} tok/s${single}  bound ${r.bound_tokens_per_s.toFixed(1)} tok/s (${against})  ratio ${r.ratio.toFixed(2)}  peak RSS ${r.peak_rss_mb} MB`;
}

/** The main weight type of a loaded model: the one holding most of its matrix bytes. */
function weightType(model: LlamaModel): string {
  const bytes = new Map<string, number>();
  for (const [, t] of model.namedTensors()) if (t.rank === 2) bytes.set(t.dtype, (bytes.get(t.dtype) ?? 0) + t.data.byteLength);
  return [...bytes].sort((a, b) => b[1] - a[1])[0]![0];
}

/** One weight type's rows (prefill, decode, decode-batch) in this process: prints DecodeRow JSON lines with `against`. */
export async function benchDecodeChild(opts: DecodeBenchOptions & { dtype?: DecodeDType }): Promise<void> {
  const addon = loadAddon()!;
  const threads = addon.numThreads();
  const memGBps = memBandwidthGBps(addon, threads);
  const peak = fmaPeakGflops(addon, threads, opts.quick ? 0.2 : 1);
  let model: LlamaModel, cfg: ModelConfig;
  if (opts.model !== undefined) ({ model, config: cfg } = loadModel(opts.model, { dtype: opts.dtype ?? 'bf16' }));
  else {
    cfg = configFromHf(SMOLLM2_135M);
    model = LlamaModel.random(cfg, new Rng(1), { dtype: opts.dtype ?? 'bf16' });
  }
  const dtype = opts.dtype ?? weightType(model); // asked for, or what the file stores most of
  // Weights read per decode step: every matrix once (a tied embedding serves as the output head; the
  // embedding lookup itself reads one row).
  const matrices = model.namedTensors().filter(([, t]) => t.rank === 2);
  const bytesPerStep = matrices.reduce((n, [, t]) => n + t.data.byteLength, 0);
  const flopsPerToken = 2 * matrices.reduce((n, [, t]) => n + t.size, 0);
  // bf16 weights on AVX512_BF16 multiply on vdpbf16ps: two multiply-adds per lane, twice the FMA peak.
  const bf16Dot = dtype === 'bf16' && addon.gemmRoundsA(512, cfg.hiddenSize, true);
  const prefillPeak = bf16Dot ? 2 * peak : peak;
  const peakName = bf16Dot ? 'bf16 peak (2× FMA)' : 'FMA peak';
  const computeBound = (prefillPeak * 1e9) / flopsPerToken;
  const promptLen = opts.quick ? 64 : 512;
  const decodeTokens = opts.quick ? 16 : 128;
  const batch = opts.batch ?? (opts.quick ? 4 : 16);
  const batchSteps = opts.quick ? 4 : 32;
  const runs = opts.quick ? 1 : 5;
  const ids = (n: number, salt: number) => Int32Array.from({ length: n }, (_, i) => (i * 7919 + salt * 104729) % cfg.vocabSize);
  const step = (tokens: Int32Array, caches: KVCache[]): Int32Array =>
    tidy(() => {
      const rows = caches.length;
      const time = tokens.length / rows;
      const h = model.forward(tokens, rows, { caches }); // (B, T, D)
      const last = time === 1 ? h : narrow(reshape(h, [rows * time, cfg.hiddenSize]), 0, time - 1, 1); // prefill: one row
      const logits = model.logits(last).f;
      return Int32Array.from({ length: logits.length / cfg.vocabSize }, (_, r) => argmax(logits.subarray(r * cfg.vocabSize, (r + 1) * cfg.vocabSize)));
    });
  // The median of a few runs, as the llama.cpp anchor reports.
  const median = (secs: number[]): number => medianBy(secs, (x) => x);
  const caches = Array.from({ length: batch }, () => new KVCache(cfg, Math.max(promptLen, decodeTokens, batchSteps) + 8));
  const rows: { phase: DecodeRow['phase']; prompt: number; batch: number; tps: number; bound: number; against: string }[] = [];
  try {
    noGrad(() => {
      step(ids(8, 0), [caches[0]!]); // warm-up: pools, thread state
      // Prefill: a 512-token prompt from an empty cache, through the first sampled token.
      const prefill = median(Array.from({ length: runs }, () => {
        caches[0]!.reset();
        const t0 = performance.now();
        step(ids(promptLen, 1), [caches[0]!]);
        return (performance.now() - t0) / 1000;
      }));
      rows.push({ phase: 'prefill', prompt: promptLen, batch: 1, tps: promptLen / prefill, bound: computeBound, against: `${peakName} ${prefillPeak.toFixed(0)} GFLOP/s` });
      // Decode: greedy steps of one stream from a one-token prompt (llama-bench's tg at depth 0).
      const decodeRun = (): number => {
        caches[0]!.reset();
        let next = step(ids(1, 2), [caches[0]!]);
        const t0 = performance.now();
        for (let i = 0; i < decodeTokens; i++) next = step(next, [caches[0]!]);
        return (performance.now() - t0) / 1000;
      };
      // Batched decode: `batch` streams, each step one token for every stream, the projections one GEMM over them.
      const batchRun = (): number => {
        for (const c of caches) c.reset();
        let next = step(ids(batch, 3), caches);
        const t0 = performance.now();
        for (let i = 0; i < batchSteps; i++) next = step(next, caches);
        return (performance.now() - t0) / 1000;
      };
      // Their runs alternate, so that the batch's gain over one stream is not the machine's drift between them.
      const decodeSecs: number[] = [], batchSecs: number[] = [];
      for (let r = 0; r < runs; r++) {
        decodeSecs.push(decodeRun());
        batchSecs.push(batchRun());
      }
      const decode = median(decodeSecs), batched = median(batchSecs);
      const memBound = (memGBps * 1e9) / bytesPerStep;
      const perStep = `${memGBps.toFixed(1)} GB/s over ${(bytesPerStep / 2 ** 20).toFixed(0)} MiB a step`;
      rows.push({ phase: 'decode', prompt: 1, batch: 1, tps: decodeTokens / decode, bound: memBound, against: perStep });
      const batchBound = Math.min(batch * memBound, computeBound);
      rows.push({ phase: 'decode-batch', prompt: 1, batch, tps: (batch * batchSteps) / batched, bound: batchBound, against: batch * memBound < computeBound ? `${batch} × ${perStep}` : `${peakName} ${prefillPeak.toFixed(0)} GFLOP/s` });
    });
  } finally {
    for (const c of caches) c.dispose();
    model.dispose();
  }
  const peakRss = Math.round(process.resourceUsage().maxRSS / 1024);
  for (const r of rows) {
    const row: DecodeRow & { against: string } = {
      op: 'decode', phase: r.phase, dtype, prompt_tokens: r.prompt, batch: r.batch, tokens_per_s: round(r.tps), bound_tokens_per_s: round(r.bound),
      ratio: round(r.tps / r.bound, 3), peak_rss_mb: peakRss, against: r.against,
      ...(r.phase === 'decode-batch' ? { vs_single: round(r.tps / rows.find((x) => x.phase === 'decode')!.tps, 2) } : {}),
    };
    process.stdout.write(JSON.stringify(row) + '\n');
  }
}
