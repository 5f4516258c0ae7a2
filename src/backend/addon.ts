// Loads the native kernel addon; returns null (after a loud warning) when it cannot be loaded.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The raw addon: functions registered by native/src/*_binding.cc. */
export type NativeAddon = Record<string, (...args: any[]) => any> & {
  numThreads(): number;
  setThreads(n: number): void;
  isa(): string;
  detectedIsa(): string;
  setIsa(name: string): boolean;
  /** Whether bf16 B products run on AVX512_BF16 (A rounded to bf16; see native/src/gemm.h). */
  bf16Dot(): boolean;
  /** Switches that path; false (unchanged) when asked on and the CPU lacks AVX512_BF16. */
  setBf16Dot(on: boolean): boolean;
  /** Whether gemm with bf16 B rounds A to bf16 for a product with these m, k and transB (active ISA included). */
  gemmRoundsA(m: number, k: number, transB: boolean): boolean;
};

let cached: NativeAddon | null | undefined;

export function loadAddon(): NativeAddon | null {
  if (cached !== undefined) return cached;
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const require = createRequire(import.meta.url);
  try {
    cached = require(path.join(root, 'build/Release/whet_native.node')) as NativeAddon;
  } catch (err) {
    process.stderr.write(
      `\n*** whetstone WARNING: native kernels unavailable (${(err as Error).message.split('\n')[0]}).\n` +
        `*** Falling back to the TypeScript reference backend, which is orders of magnitude slower.\n` +
        `*** Rebuild with: npm run build:native\n\n`,
    );
    cached = null;
  }
  return cached;
}
