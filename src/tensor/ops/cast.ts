// Conversions between element types (bf16 storage for frozen weights; f64 for gradient checks).
import type { DType } from '../dtype.ts';
import { record, Tensor } from '../tensor.ts';

/** A copy of x as dtype; differentiable between f32 and f64. */
export function cast(x: Tensor, dtype: DType): Tensor {
  const out = Tensor.empty(x.shape, dtype);
  if (x.dtype === dtype) out.buffer.set(x.data);
  else if (dtype === 'bf16') x.backend.castToBf16(x.f, out.data as Uint16Array, x.size);
  else if (x.dtype === 'bf16') out.backend.castFromBf16(x.data as Uint16Array, out.f, x.size);
  else out.f.set(x.f);
  if (dtype === 'bf16') return out;
  return record(out, 'cast', [x], (g) => [cast(g, x.dtype)]);
}
