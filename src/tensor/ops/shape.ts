// Shape ops: reshape and contiguous slices are views; permute, other narrows and cat copy.
import { contiguousStrides, record, Tensor } from '../tensor.ts';

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const resolved = shape.map((d) => (d === -1 ? x.size / known : d));
  if (resolved.reduce((a, b) => a * b, 1) !== x.size || resolved.some((d) => !Number.isInteger(d)))
    throw new Error(`cannot reshape [${x.shape.join(', ')}] to [${shape.join(', ')}]`);
  const out = x.view(resolved);
  return record(out, 'reshape', [x], (g) => [g.view(x.shape, g.offset)]);
}

/** Reorders axes: out.shape[i] = x.shape[perm[i]] (a copy). */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank || [...perm].sort().some((p, i) => p !== i)) throw new Error(`invalid permutation [${perm.join(', ')}] for rank ${x.rank}`);
  const xs = contiguousStrides(x.shape);
  const shape = perm.map((p) => x.shape[p]!);
  const out = Tensor.empty(shape, x.dtype);
  x.backend.copyStrided(x.buffer as Float32Array, x.offset, perm.map((p) => xs[p]!), out.f, 0, shape);
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  return record(out, 'permute', [x], (g) => [permute(g, inverse)]);
}

/** Swaps two axes (a copy). */
export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const perm = x.shape.map((_, i) => i);
  const ia = a < 0 ? x.rank + a : a;
  const ib = b < 0 ? x.rank + b : b;
  [perm[ia], perm[ib]] = [perm[ib]!, perm[ia]!];
  return permute(x, perm);
}

/** Rows of a narrow copied one contiguous run at a time (TypedArray.set) below this; above, the strided kernel. */
const SET_ROWS = 64;

/**
 * Elements [start, start+length) along axis: a view when they are one contiguous run (axis 0, or every axis
 * before `axis` of size 1, as a decode step's single row), a copy otherwise.
 */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  const ax = axis < 0 ? x.rank + axis : axis;
  const dim = x.dim(ax);
  if (start < 0 || length < 0 || start + length > dim) throw new Error(`narrow [${start}, ${start + length}) out of range for axis ${ax} of size ${dim}`);
  const shape = [...x.shape];
  shape[ax] = length;
  const strides = contiguousStrides(x.shape);
  const inner = strides[ax]!;
  const outer = x.size / (dim * inner);
  let out: Tensor;
  if (ax === 0 || outer === 1) out = x.view(shape, x.offset + start * inner);
  else if (outer <= SET_ROWS) {
    out = Tensor.empty(shape, x.dtype);
    const src = x.buffer as Float32Array, dst = out.f, run = length * inner;
    for (let o = 0; o < outer; o++) {
      const from = x.offset + (o * dim + start) * inner;
      dst.set(src.subarray(from, from + run), o * run);
    }
  } else {
    out = Tensor.empty(shape, x.dtype);
    x.backend.copyStrided(x.buffer as Float32Array, x.offset + start * inner, strides, out.f, 0, shape);
  }
  return record(out, 'narrow', [x], (g) => {
    const gx = Tensor.empty(x.shape, g.dtype, true);
    const src = g.data;
    // Each outer row of g is one contiguous run inside the matching row of gx.
    for (let o = 0; o < outer; o++) gx.buffer.set(src.subarray(o * length * inner, (o + 1) * length * inner), (o * dim + start) * inner);
    return [gx];
  });
}

/** Joins tensors along an axis (a copy). */
export function cat(xs: readonly Tensor[], axis: number): Tensor {
  const first = xs[0];
  if (first === undefined) throw new Error('cat of no tensors');
  const ax = axis < 0 ? first.rank + axis : axis;
  const shape = [...first.shape];
  shape[ax] = xs.reduce((n, t) => n + t.dim(ax), 0);
  const out = Tensor.empty(shape, first.dtype);
  const outer = shape.slice(0, ax).reduce((a, b) => a * b, 1);
  const inner = shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const outRow = shape[ax]! * inner;
  const starts: number[] = [];
  let at = 0;
  for (const t of xs) {
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== ax && d !== shape[i]))
      throw new Error(`cat: shape [${t.shape.join(', ')}] does not match [${first.shape.join(', ')}] off axis ${ax}`);
    const row = t.dim(ax) * inner;
    const src = t.data;
    // Each of the `outer` rows of t is one contiguous run inside the matching row of out.
    for (let o = 0; o < outer; o++) out.buffer.set(src.subarray(o * row, (o + 1) * row), o * outRow + at * inner);
    starts.push(at);
    at += t.dim(ax);
  }
  return record(out, 'cat', xs, (g) => xs.map((t, i) => narrow(g, ax, starts[i]!, t.dim(ax))));
}
