// Native matmul: the addon's blocked GEMM (AVX-512/AVX2/scalar, threaded). bf16 weights run on AVX512_BF16 where the
// CPU has it (A rounded to bf16: see MatmulArgs), else are converted to f32 while packing;
// and its products with quantised weights (int8 dot products for few rows, dequantised tiles for many).
import type { Backend } from './backend.ts';
import type { NativeAddon } from './addon.ts';
import { QUANT_TYPE_IDS } from './quant-ids.ts';

export function nativeMatmul(addon: NativeAddon): Pick<Backend, 'matmul' | 'matmulQuant' | 'dequantRows'> {
  const { gemm, qgemm, dequantRows } = addon;
  return {
    matmul({ a, aOffset, strideA, transA, b, bOffset, strideB, transB, c, cOffset, strideC, batch, m, n, k, accumulate }) {
      gemm(a, aOffset, strideA, transA, b, bOffset, strideB, transB, c, cOffset, strideC, batch, m, n, k, accumulate);
    },
    matmulQuant({ a, aOffset, w, type, transW, c, cOffset, m, n, k, accumulate }) {
      qgemm(a, aOffset, w, QUANT_TYPE_IDS[type], transW, c, cOffset, m, n, k, accumulate);
    },
    dequantRows(w, type, rowLength, rows, out) {
      dequantRows(w, QUANT_TYPE_IDS[type], rowLength, rows, out);
    },
  };
}
