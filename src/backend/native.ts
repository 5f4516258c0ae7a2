// The native backend: C++ kernels from the addon; any op a kernel group does not provide falls back to the reference.
import type { Backend } from './backend.ts';
import type { NativeAddon } from './addon.ts';
import { referenceBackend } from './reference.ts';
import { nativeMatmul } from './native-matmul.ts';
import { nativeKernels } from './native-kernels.ts';
import { nativeAttention } from './native-attention.ts';

export function createNativeBackend(addon: NativeAddon): Backend {
  return { ...referenceBackend, ...nativeKernels(addon), ...nativeAttention(addon), ...nativeMatmul(addon), name: 'native' };
}
