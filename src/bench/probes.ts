// The machine's limits for benchmarks to report ratios against: fp32 FMA peak and streaming-read bandwidth (native probes).
import type { NativeAddon } from '../backend/addon.ts';

/** GFLOP/s of a register-resident FMA loop at the active ISA's widest vectors, on `threads` threads at once. */
export function fmaPeakGflops(addon: NativeAddon, threads: number, seconds = 1): number {
  return addon.fmaPeak(threads, seconds) as number;
}

/** GB/s of `threads` threads streaming through a buffer well beyond the caches (best of several passes). */
export function memBandwidthGBps(addon: NativeAddon, threads: number, bytes = 256 * 2 ** 20): number {
  return addon.memBandwidth(threads, bytes) as number;
}

/** x rounded to `digits` decimals, for printed and JSON results. */
export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
