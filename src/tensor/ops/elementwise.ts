// Elementwise ops with broadcasting, scalar affine maps and unary activations, with their gradients.
import type { BinaryOp, UnaryOp } from '../../backend/backend.ts';
import { contiguousStrides, record, Tensor } from '../tensor.ts';
import { broadcastShape, broadcastStrides, sumTo } from './broadcast.ts';

function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== b.dtype) throw new Error(`${op}: dtypes ${a.dtype} and ${b.dtype} differ`);
  const shape = broadcastShape(a.shape, b.shape);
  const out = Tensor.empty(shape, a.dtype);
  a.backend.binary(op, a.buffer as Float32Array, a.offset, broadcastStrides(a.shape, shape), b.buffer as Float32Array, b.offset, broadcastStrides(b.shape, shape), out.f, shape);
  return out;
}

export function add(a: Tensor, b: Tensor): Tensor {
  return record(binaryRaw('add', a, b), 'add', [a, b], (g) => [sumTo(g, a.shape), sumTo(g, b.shape)]);
}

/**
 * a + branch (same shapes), written over branch's storage: a residual connection whose branch output (a
 * linear layer's, which no backward reads) need not outlive the sum. Gradients as add's.
 */
export function addToBranch(a: Tensor, branch: Tensor): Tensor {
  if (a.dtype !== branch.dtype || a.shape.join() !== branch.shape.join()) throw new Error(`addToBranch: [${a.shape.join(', ')}] and [${branch.shape.join(', ')}] differ`);
  const out = branch.overwriteView();
  const strides = contiguousStrides(a.shape);
  a.backend.binary('add', a.buffer as Float32Array, a.offset, strides, branch.buffer as Float32Array, branch.offset, strides, out.f, a.shape);
  return record(out, 'add', [a, branch], (g) => [g, g]);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  return record(binaryRaw('sub', a, b), 'sub', [a, b], (g) => {
    const gb = sumTo(g, b.shape);
    return [sumTo(g, a.shape), scale(gb, -1, gb !== g)];
  });
}

export function mul(a: Tensor, b: Tensor): Tensor {
  return record(binaryRaw('mul', a, b), 'mul', [a, b], (g) => [
    a.requiresGrad ? reduceProduct(g, b, a.shape) : null,
    b.requiresGrad ? reduceProduct(g, a, b.shape) : null,
  ]);
}

export function div(a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw('div', a, b);
  return record(out, 'div', [a, b], (g) => {
    const ga = a.requiresGrad ? reduceQuotient(g, b, a.shape) : null;
    let gb: Tensor | null = null;
    if (b.requiresGrad) {
      // d(a/b)/db = -out/b
      const t = binaryRaw('div', out, b);
      gb = reduceProduct(g, t, b.shape);
      t.dispose();
      scale(gb, -1, true);
    }
    return [ga, gb];
  });
}

/** sumTo(g * x, shape), freeing the temporary. */
function reduceProduct(g: Tensor, x: Tensor, shape: readonly number[]): Tensor {
  const p = binaryRaw('mul', g, x);
  const r = sumTo(p, shape);
  if (r !== p) p.dispose();
  return r;
}

function reduceQuotient(g: Tensor, x: Tensor, shape: readonly number[]): Tensor {
  const p = binaryRaw('div', g, x);
  const r = sumTo(p, shape);
  if (r !== p) p.dispose();
  return r;
}

/** x * s + shift; with inPlace, overwrites x (only for tensors outside the tape). */
export function scale(x: Tensor, s: number, inPlace = false, shift = 0): Tensor {
  if (inPlace) {
    x.backend.affine(x.f, x.f, x.size, s, shift);
    return x;
  }
  const out = Tensor.empty(x.shape, x.dtype);
  x.backend.affine(x.f, out.f, x.size, s, shift);
  return record(out, 'scale', [x], (g) => [scale(g, s)]);
}

export function addScalar(x: Tensor, c: number): Tensor {
  const out = Tensor.empty(x.shape, x.dtype);
  x.backend.affine(x.f, out.f, x.size, 1, c);
  return record(out, 'addScalar', [x], (g) => [g]);
}

function unary(op: UnaryOp, x: Tensor): Tensor {
  const out = Tensor.empty(x.shape, x.dtype);
  x.backend.unary(op, x.f, out.f, x.size);
  return record(out, op, [x], (g) => {
    const gx = Tensor.empty(x.shape, x.dtype);
    x.backend.unaryBackward(op, x.f, out.f, g.f, gx.f, x.size);
    return [gx];
  });
}

export const exp = (x: Tensor): Tensor => unary('exp', x);
export const log = (x: Tensor): Tensor => unary('log', x);
export const neg = (x: Tensor): Tensor => unary('neg', x);
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x);
export const square = (x: Tensor): Tensor => unary('square', x);
export const relu = (x: Tensor): Tensor => unary('relu', x);
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
export const silu = (x: Tensor): Tensor => unary('silu', x);
/** log(sigmoid(x)), computed stably (DPO and reward-model losses). */
export const logSigmoid = (x: Tensor): Tensor => unary('logsigmoid', x);

// min, max and clamp are composed from relu rather than added as backend primitives: both backends get them for
// free, and their gradients follow from relu's (1 where the kept operand wins, 0 where it loses). At an exact tie
// the whole gradient goes to the first operand; the clipped RL objectives compare equal values exactly where both
// branches have the same derivative, so the choice cannot matter there.

/** Elementwise min(a, b) (broadcasting), as a − relu(a − b). */
export const minimum = (a: Tensor, b: Tensor): Tensor => sub(a, relu(sub(a, b)));

/** Elementwise max(a, b) (broadcasting), as a + relu(b − a). */
export const maximum = (a: Tensor, b: Tensor): Tensor => add(a, relu(sub(b, a)));

/**
 * x clamped to [lo, hi] (either bound optional), as y + relu(lo − y) then y − relu(y − hi): exact inside the
 * range (the common case), within an ulp of the bound outside it. Gradient 1 inside, 0 outside.
 */
export function clamp(x: Tensor, lo?: number, hi?: number): Tensor {
  let y = x;
  if (lo !== undefined) y = add(y, relu(addScalar(scale(y, -1), lo)));
  if (hi !== undefined) y = sub(y, relu(addScalar(y, -hi)));
  return y;
}
