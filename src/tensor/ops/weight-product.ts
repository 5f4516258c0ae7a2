// C (+)= A·op(W) for one weight whatever its storage: f32/bf16 elements through matmul, quantised blocks through
// matmulQuant. The one place that chooses between them (linear layers, the chunked loss, fused sibling projections).
import type { Backend, FloatArray, WeightArray } from '../../backend/backend.ts';
import { isQuantDType, type DType } from '../dtype.ts';
import type { Tensor } from '../tensor.ts';

/** A weight as stored: `data` holds f32/bf16 elements from `offset`, or (quantised) whole rows of blocks from 0. */
export interface WeightStorage {
  data: WeightArray | Uint8Array;
  offset: number;
  dtype: DType;
}

/** A weight tensor's storage: its whole buffer from the tensor's offset. */
export function storageOf(w: Tensor): WeightStorage {
  return { data: w.buffer as WeightArray | Uint8Array, offset: w.offset, dtype: w.dtype };
}

/** C (m, n) at cOffset (+)= A (m, k) at aOffset · op(W): W is (n, k) when transW, else (k, n). */
export function weightProduct(be: Backend, a: FloatArray, aOffset: number, w: WeightStorage, transW: boolean, c: FloatArray, cOffset: number, m: number, k: number, n: number, accumulate: boolean): void {
  if (isQuantDType(w.dtype)) {
    if (w.offset !== 0) throw new Error(`matmul: ${w.dtype} weights are multiplied whole, from their first block`);
    be.matmulQuant({ a: a as Float32Array, aOffset, w: w.data as Uint8Array, type: w.dtype, transW, c: c as Float32Array, cOffset, m, n, k, accumulate });
    return;
  }
  be.matmul({ a, aOffset, strideA: m * k, transA: false, b: w.data as WeightArray, bOffset: w.offset, strideB: k * n, transB: transW, c, cOffset, strideC: m * n, batch: 1, m, n, k, accumulate });
}
