// Broadcasting rules (NumPy/PyTorch): shapes align on the right; size-1 or missing dims stretch.
import { contiguousStrides, sizeOf, Tensor } from '../tensor.ts';

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast`);
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides that read a tensor of `shape` as if it had `outShape` (0 on stretched dims). */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = contiguousStrides(shape);
  const lead = outShape.length - shape.length;
  return outShape.map((d, i) => (i < lead || shape[i - lead] === 1 ? 0 : own[i - lead]!));
}

/** Sums g (of a broadcast shape) down to `shape`: the gradient of broadcasting. */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const out = Tensor.empty(shape, g.dtype);
  g.backend.reduceSum(g.f, g.shape, out.f, broadcastStrides(shape, g.shape), sizeOf(shape));
  return out;
}

/** Materialises x (broadcastable to shape) at the full shape. */
export function expandTo(x: Tensor, shape: readonly number[]): Tensor {
  const out = Tensor.empty(shape, x.dtype);
  x.backend.copyStrided(x.buffer as Float32Array, x.offset, broadcastStrides(x.shape, shape), out.f, 0, shape);
  return out;
}
