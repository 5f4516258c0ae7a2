// Native matmul: the addon's blocked GEMM (AVX-512/AVX2/scalar, threaded). bf16 weights run on AVX512_BF16 where the
// CPU has it (A rounded to bf16: see MatmulArgs), else are converted to f32 while packing.
import type { Backend } from './backend.ts';
import type { NativeAddon } from './addon.ts';

export function nativeMatmul(addon: NativeAddon): Pick<Backend, 'matmul'> {
  const gemm = addon.gemm;
  return {
    matmul({ a, aOffset, strideA, transA, b, bOffset, strideB, transB, c, cOffset, strideC, batch, m, n, k, accumulate }) {
      gemm(a, aOffset, strideA, transA, b, bOffset, strideB, transB, c, cOffset, strideC, batch, m, n, k, accumulate);
    },
  };
}
