// Runs code with bf16 weights multiplied exactly: the native GEMM's AVX512_BF16 path rounds the activations to
// bf16 first (MatmulArgs in src/backend/backend.ts), which a test comparing bf16 weights against the same
// weights in f32 must not mistake for a bug. A no-op where that path is off or the addon is not loaded.
import { loadAddon } from '../../src/backend/addon.ts';

export function withExactBf16<R>(fn: () => R): R {
  const addon = loadAddon();
  if (addon === null || !addon.bf16Dot()) return fn();
  addon.setBf16Dot(false);
  try {
    return fn();
  } finally {
    addon.setBf16Dot(true);
  }
}
