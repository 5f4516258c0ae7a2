// Sum and mean over all elements or chosen axes, with their (broadcasting) gradients.
import { contiguousStrides, record, sizeOf, Tensor } from '../tensor.ts';
import { expandTo } from './broadcast.ts';
import { scale } from './elementwise.ts';

/** Sums over `axes` (all when omitted); keepDims leaves size-1 dims in place. */
export function sum(x: Tensor, axes?: readonly number[], keepDims = false): Tensor {
  const ax = new Set((axes ?? x.shape.map((_, i) => i)).map((a) => (a < 0 ? x.rank + a : a)));
  const kept = x.shape.map((d, i) => (ax.has(i) ? 1 : d));
  const keptStrides = contiguousStrides(kept).map((s, i) => (ax.has(i) ? 0 : s));
  const outShape = keepDims ? kept : x.shape.filter((_, i) => !ax.has(i));
  const out = Tensor.empty(outShape, x.dtype);
  x.backend.reduceSum(x.f, x.shape, out.f, keptStrides, sizeOf(outShape));
  return record(out, 'sum', [x], (g) => {
    const gv = g.view(kept, g.offset);
    const gx = expandTo(gv, x.shape);
    gv.dispose();
    return [gx];
  });
}

export function mean(x: Tensor, axes?: readonly number[], keepDims = false): Tensor {
  const s = sum(x, axes, keepDims);
  const count = x.size / Math.max(s.size, 1);
  const out = scale(s, 1 / count);
  return out;
}
