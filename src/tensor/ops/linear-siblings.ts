// Sibling projections of one input (q/k/v, gate/up) as one product when their frozen weights lie back to back in one
// buffer, as FrozenArena places them: decoding reads them in one call (one thread handoff, one prefetch ramp)
// instead of one call each.
import type { FloatArray, WeightArray } from '../../backend/backend.ts';
import { isGradEnabled } from '../grad-mode.ts';
import { Tensor } from '../tensor.ts';
import { narrow } from './shape.ts';
import { weightProduct } from './weight-product.ts';

/** Rows up to which one product pays: decode's few rows are bound by reading the weights, prefill's many by FLOPs. */
const MAX_ROWS = 16;

/**
 * x·Wᵢᵀ for frozen weights Wᵢ (nᵢ, in) that lie back to back in one buffer, x (..., in) with at most MAX_ROWS rows
 * and no gradient to carry: one product over their span, split into (..., nᵢ). Undefined when that does not apply.
 */
export function fusedLinear(x: Tensor, weights: readonly Tensor[]): Tensor[] | undefined {
  const first = weights[0]!;
  const inF = first.dim(-1);
  const rows = x.size / inF;
  if (rows > MAX_ROWS || (isGradEnabled() && x.requiresGrad) || x.dtype !== 'f32') return undefined;
  const start = first.data;
  let end = start.byteOffset;
  for (const w of weights) {
    const d = w.data;
    if (w.requiresGrad || w.dtype !== first.dtype || w.rank !== 2 || w.dim(1) !== inF || d.buffer !== start.buffer || d.byteOffset !== end) return undefined;
    end += d.byteLength;
  }
  const n = weights.reduce((s, w) => s + w.dim(0), 0);
  const y = Tensor.empty([...x.shape.slice(0, -1), n], 'f32'); // (..., Σnᵢ)
  // The span as one weight: a view of the same element type (bytes for quantised blocks) over every sibling.
  const View = start.constructor as new (b: ArrayBufferLike, at: number, len: number) => WeightArray | Uint8Array;
  const span = new View(start.buffer, start.byteOffset, (end - start.byteOffset) / start.BYTES_PER_ELEMENT);
  weightProduct(x.backend, x.buffer as FloatArray, x.offset, { data: span, offset: 0, dtype: first.dtype }, true, y.f, 0, rows, inF, n, false);
  let at = 0;
  const outs = weights.map((w) => {
    const part = narrow(y, -1, at, w.dim(0)); // (..., nᵢ)
    at += w.dim(0);
    return part;
  });
  y.dispose();
  return outs;
}
