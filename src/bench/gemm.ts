// `whet bench gemm`: native GEMM GFLOP/s on a small model's shapes, as a ratio of the measured FMA peak
// (and, for decode, of the bound that streaming the weights from memory allows), at 1 and all threads.
import { loadAddon } from '../backend/addon.ts';
import type { MatmulArgs } from '../backend/backend.ts';
import { f32ToBf16 } from '../backend/bf16.ts';
import { nativeMatmul } from '../backend/native-matmul.ts';
import { WhetError } from '../errors.ts';
import { fmaPeakGflops, memBandwidthGBps, round } from './probes.ts';

interface Shape {
  m: number; k: number; n: number;
  transA: boolean; transB: boolean;
  bf16: boolean;
  decode: boolean; // memory-bound: also reported against the weight-streaming bound
}

// A 576-wide model with a 1536-wide MLP: forward x·Wᵀ, input gradient gY·W, weight gradient Xᵀ·gY, the two
// LoRA products at rank 16, and one decode step; frozen bf16 weights for the forward, its input gradient and
// decode (on AVX512_BF16, bf16 products are measured against twice the FMA peak).
const SHAPES: Shape[] = [
  { m: 512, k: 576, n: 1536, transA: false, transB: true, bf16: false, decode: false },
  { m: 512, k: 1536, n: 576, transA: false, transB: false, bf16: false, decode: false },
  { m: 576, k: 512, n: 1536, transA: true, transB: false, bf16: false, decode: false },
  { m: 512, k: 576, n: 16, transA: false, transB: true, bf16: false, decode: false },
  { m: 512, k: 16, n: 576, transA: false, transB: true, bf16: false, decode: false },
  { m: 1, k: 576, n: 1536, transA: false, transB: true, bf16: false, decode: true },
  { m: 512, k: 576, n: 1536, transA: false, transB: true, bf16: true, decode: false },
  { m: 512, k: 1536, n: 576, transA: false, transB: false, bf16: true, decode: false },
  { m: 1, k: 576, n: 1536, transA: false, transB: true, bf16: true, decode: true },
];

function label(s: Shape): string {
  return `${s.transA ? 'Aᵀ' : 'A'}·${s.transB ? 'Bᵀ' : 'B'}`;
}

function randomFloats(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.random() * 2 - 1;
  return x;
}

/** Best seconds per call: `reps` rounds, each repeating the call for at least `roundSeconds`. */
function timeBest(fn: () => void, reps: number, roundSeconds: number): number {
  for (let i = 0; i < 3; i++) fn();
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    let calls = 0;
    const start = performance.now();
    let elapsed = 0;
    do {
      fn();
      calls++;
      elapsed = (performance.now() - start) / 1000;
    } while (elapsed < roundSeconds);
    best = Math.min(best, elapsed / calls);
  }
  return best;
}

export async function benchGemm(opts: { json: boolean; quick: boolean }): Promise<void> {
  const addon = loadAddon();
  if (addon === null) throw new WhetError('bench gemm needs the native addon (npm run build:native)');
  const { matmul } = nativeMatmul(addon);
  const allThreads = addon.numThreads();
  const threadCounts = allThreads > 1 ? [1, allThreads] : [1];
  const reps = opts.quick ? 3 : 7;
  const roundSeconds = opts.quick ? 0.02 : 0.1;
  process.stderr.write(`bench gemm: isa ${addon.isa()}, threads ${threadCounts.join(' and ')}\n`);
  try {
    for (const threads of threadCounts) {
      const peak = fmaPeakGflops(addon, threads, opts.quick ? 0.2 : 1);
      const memGBps = memBandwidthGBps(addon, threads);
      process.stderr.write(`  threads=${threads}: FMA peak ${peak.toFixed(1)} GFLOP/s, memory ${memGBps.toFixed(1)} GB/s\n`);
      addon.setThreads(threads);
      for (const s of SHAPES) {
        const bSize = s.k * s.n;
        const b = s.bf16 ? Uint16Array.from(randomFloats(bSize), f32ToBf16) : randomFloats(bSize);
        const args: MatmulArgs = {
          a: randomFloats(s.m * s.k), aOffset: 0, strideA: 0, transA: s.transA,
          b, bOffset: 0, strideB: 0, transB: s.transB,
          c: new Float32Array(s.m * s.n), cOffset: 0, strideC: 0,
          batch: 1, m: s.m, n: s.n, k: s.k, accumulate: false,
        };
        const seconds = timeBest(() => matmul(args), reps, roundSeconds);
        const gflops = (2 * s.m * s.k * s.n) / seconds / 1e9;
        // bf16 B on AVX512_BF16: vdpbf16ps does two multiply-adds per lane where an FMA does one.
        const shapePeak = s.bf16 && addon.gemmRoundsA(s.m, s.k, s.transB) ? 2 * peak : peak;
        const ratio = gflops / shapePeak;
        const dtype = s.bf16 ? 'bf16' : 'f32';
        const result: Record<string, number | string> = {
          op: 'gemm', m: s.m, k: s.k, n: s.n, trans: label(s), dtype, threads,
          gflops: round(gflops), peak_gflops: round(shapePeak), ratio: round(ratio, 3),
        };
        let line = `gemm ${s.m}x${s.k}x${s.n} ${label(s)} ${dtype} threads=${threads}`.padEnd(38) +
          `${gflops.toFixed(1).padStart(7)} GFLOP/s  peak ${shapePeak.toFixed(1)}${shapePeak !== peak ? ' (bf16)' : ''}  ratio ${ratio.toFixed(2)}`;
        if (s.decode) {
          // Each call must read all of B once; memory can deliver it no faster than this.
          const bound = (2 * s.k * s.n * memGBps) / (bSize * b.BYTES_PER_ELEMENT);
          Object.assign(result, { bound_gflops: round(bound), bound_ratio: round(gflops / bound, 3), mem_gbps: round(memGBps) });
          line += `  bound ${bound.toFixed(1)} GFLOP/s from ${memGBps.toFixed(1)} GB/s  ratio-to-bound ${(gflops / bound).toFixed(1)}`;
        }
        process.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : `${line}\n`);
      }
    }
  } finally {
    addon.setThreads(allThreads);
  }
}
