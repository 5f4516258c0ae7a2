// Reference (plain TypeScript) data movement, elementwise and reduction ops; the spec the native kernels are tested against.
import type { Backend, BinaryOp, FloatArray, UnaryOp } from './backend.ts';
import { bf16ToF32, f32ToBf16 } from './bf16.ts';

/** Calls fn(idx) for every multi-index over shape in row-major order (once for rank 0; never for an empty shape). */
export function forEachIndex(shape: readonly number[], fn: (idx: readonly number[]) => void): void {
  if (shape.some((s) => s <= 0)) return;
  const idx = new Array<number>(shape.length).fill(0);
  for (;;) {
    fn(idx);
    let d = shape.length - 1;
    while (d >= 0) {
      idx[d]++;
      if (idx[d] < shape[d]) break;
      idx[d] = 0;
      d--;
    }
    if (d < 0) return;
  }
}

function dot(idx: readonly number[], strides: readonly number[]): number {
  let s = 0;
  for (let d = 0; d < idx.length; d++) s += idx[d] * strides[d];
  return s;
}

function checkRank(what: string, strides: readonly number[], shape: readonly number[]): void {
  if (strides.length !== shape.length) throw new RangeError(`${what}: ${strides.length} strides for a rank-${shape.length} shape`);
}

/** sigmoid without overflow for large |x|. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** log(sigmoid(x)) = -softplus(-x) = min(x, 0) - log1p(exp(-|x|)), stable for any x. */
function logsigmoid(x: number): number {
  return Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x)));
}

export function unaryFn(op: UnaryOp): (x: number) => number {
  switch (op) {
    case 'exp': return Math.exp;
    case 'log': return Math.log;
    case 'neg': return (x) => -x;
    case 'sqrt': return Math.sqrt;
    case 'square': return (x) => x * x;
    case 'relu': return (x) => (x > 0 ? x : 0);
    case 'tanh': return Math.tanh;
    case 'sigmoid': return sigmoid;
    case 'silu': return (x) => x * sigmoid(x);
    case 'logsigmoid': return logsigmoid;
  }
}

/** dL/dx given x, y = f(x) and dL/dy. */
function unaryGrad(op: UnaryOp): (x: number, y: number, gy: number) => number {
  switch (op) {
    case 'exp': return (_x, y, gy) => gy * y;
    case 'log': return (x, _y, gy) => gy / x;
    case 'neg': return (_x, _y, gy) => -gy;
    case 'sqrt': return (_x, y, gy) => (gy * 0.5) / y;
    case 'square': return (x, _y, gy) => gy * 2 * x;
    case 'relu': return (x, _y, gy) => (x > 0 ? gy : 0);
    case 'tanh': return (_x, y, gy) => gy * (1 - y * y);
    case 'sigmoid': return (_x, y, gy) => gy * y * (1 - y);
    case 'silu': return (x, _y, gy) => {
      const s = sigmoid(x);
      return gy * s * (1 + x * (1 - s));
    };
    // d/dx log(sigmoid(x)) = 1 - sigmoid(x) = sigmoid(-x)
    case 'logsigmoid': return (x, _y, gy) => gy * sigmoid(-x);
  }
}

function binaryFn(op: BinaryOp): (a: number, b: number) => number {
  switch (op) {
    case 'add': return (a, b) => a + b;
    case 'sub': return (a, b) => a - b;
    case 'mul': return (a, b) => a * b;
    case 'div': return (a, b) => a / b;
  }
}

export const referenceElementwise: Pick<Backend,
  'fill' | 'copyStrided' | 'castToBf16' | 'castFromBf16' | 'binary' | 'unary' | 'unaryBackward' | 'affine' | 'reduceSum' | 'sumSquares'> = {
  fill(out, offset, n, value) {
    for (let i = 0; i < n; i++) out[offset + i] = value;
  },

  copyStrided(src, srcOffset, srcStrides, dst, dstOffset, shape) {
    checkRank('copyStrided', srcStrides, shape);
    let flat = 0;
    forEachIndex(shape, (idx) => {
      dst[dstOffset + flat++] = src[srcOffset + dot(idx, srcStrides)];
    });
  },

  castToBf16(src, dst, n) {
    for (let i = 0; i < n; i++) dst[i] = f32ToBf16(src[i]);
  },

  castFromBf16(src, dst, n) {
    for (let i = 0; i < n; i++) dst[i] = bf16ToF32(src[i]);
  },

  binary(op, a, aOffset, aStrides, b, bOffset, bStrides, out, outShape) {
    checkRank('binary a', aStrides, outShape);
    checkRank('binary b', bStrides, outShape);
    const f = binaryFn(op);
    let flat = 0;
    forEachIndex(outShape, (idx) => {
      out[flat++] = f(a[aOffset + dot(idx, aStrides)], b[bOffset + dot(idx, bStrides)]);
    });
  },

  unary(op, x, out, n) {
    const f = unaryFn(op);
    for (let i = 0; i < n; i++) out[i] = f(x[i]);
  },

  unaryBackward(op, x, y, gy, gx, n) {
    const g = unaryGrad(op);
    for (let i = 0; i < n; i++) gx[i] = g(x[i], y[i], gy[i]);
  },

  affine(x, out, n, scale, shift) {
    for (let i = 0; i < n; i++) out[i] = x[i] * scale + shift;
  },

  reduceSum(x, shape, out, outStrides, outSize) {
    checkRank('reduceSum', outStrides, shape);
    // Sum in doubles, store once, so float32 outputs see a single rounding.
    const acc = new Float64Array(outSize);
    let flat = 0;
    forEachIndex(shape, (idx) => {
      acc[dot(idx, outStrides)] += x[flat++];
    });
    for (let i = 0; i < outSize; i++) out[i] = acc[i];
  },

  sumSquares(x: FloatArray, n: number) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i] * x[i];
    return s;
  },
};
