// Matrix products: batched matmul with transposes, and linear (x·Wᵀ) with frozen bf16 weights allowed.
import type { FloatArray, WeightArray } from '../../backend/backend.ts';
import { record, Tensor } from '../tensor.ts';
import { add } from './elementwise.ts';
import { storageOf, weightProduct } from './weight-product.ts';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

export interface Operand {
  t: Tensor;
  trans: boolean;
}

/**
 * The batched product op(a)·op(b), each (m, k)·(k, n) (no autograd): into a fresh tensor of outShape,
 * or added to `into`.
 */
export function gemm(a: Operand, b: Operand, batch: number, m: number, k: number, n: number, outShape: readonly number[], into?: Tensor): Tensor {
  const out = into ?? Tensor.empty(outShape, a.t.dtype);
  if (batch === 1 && !a.trans) {
    weightProduct(a.t.backend, a.t.buffer as FloatArray, a.t.offset, storageOf(b.t), b.trans, out.buffer as FloatArray, out.offset, m, k, n, into !== undefined);
    return out;
  }
  // A frozen quantised weight multiplies plain rows only (x·Wᵀ forward, g·W to the input): never a batch or a transpose.
  if (b.t.quantized) throw new Error(`matmul: a ${b.t.dtype} weight multiplies a plain (rows, k) operand, not a batch or a transpose`);
  a.t.backend.matmul({
    a: a.t.buffer as Float32Array, aOffset: a.t.offset, strideA: m * k, transA: a.trans,
    b: b.t.buffer as WeightArray, bOffset: b.t.offset, strideB: k * n, transB: b.trans,
    c: out.buffer as Float32Array, cOffset: out.offset, strideC: m * n,
    batch, m, n, k, accumulate: into !== undefined,
  });
  return out;
}

/**
 * op(a)·op(b) where op transposes the last two axes when asked.
 * a: (..., m, k) [or (..., k, m) with transA]; b: (k, n) shared across a's batch, or (..., k, n) with
 * the same batch dims [or the transposed layouts with transB]. A 2-D b with a batched a folds the
 * batch into rows (only without transA).
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  if (a.rank < 2 || b.rank < 2) throw new Error(`matmul needs rank >= 2, got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  if (a.dtype !== 'f32' && a.dtype !== 'f64') throw new Error(`matmul: the left operand cannot be ${a.dtype}`);
  const batchDims = a.shape.slice(0, -2);
  let batch = batchDims.reduce((x, y) => x * y, 1);
  let m = transA ? a.dim(-1) : a.dim(-2);
  const k = transA ? a.dim(-2) : a.dim(-1);
  const kb = transB ? b.dim(-1) : b.dim(-2);
  const n = transB ? b.dim(-2) : b.dim(-1);
  if (k !== kb) throw new Error(`matmul: inner dims differ: [${a.shape.join(', ')}]${transA ? 'ᵀ' : ''} · [${b.shape.join(', ')}]${transB ? 'ᵀ' : ''}`);
  const shared = b.rank === 2;
  if (!shared && (b.rank !== a.rank || b.shape.slice(0, -2).some((d, i) => d !== batchDims[i])))
    throw new Error(`matmul: batch dims of [${a.shape.join(', ')}] and [${b.shape.join(', ')}] differ`);
  if (shared && batch > 1) {
    if (transA) throw new Error('matmul: a batched transposed a with a shared b is not supported');
    m *= batch; // fold the batch into rows: a is (batch·m, k) contiguous
    batch = 1;
  }
  const out = gemm({ t: a, trans: transA }, { t: b, trans: transB }, batch, m, k, n, [...batchDims, transA ? a.dim(-1) : a.dim(-2), n]);
  return record(out, 'matmul', [a, b], (g) => [
    // dA = dC·op(B)ᵀ, or stored transposed: dAᵀ = op(B)·dCᵀ
    !a.requiresGrad ? null
    : transA ? gemm({ t: b, trans: transB }, { t: g, trans: true }, batch, k, n, m, a.shape)
    : gemm({ t: g, trans: false }, { t: b, trans: !transB }, batch, m, n, k, a.shape),
    // dB = op(A)ᵀ·dC, or stored transposed: dBᵀ = dCᵀ·op(A)
    !b.requiresGrad ? null
    : transB ? gemm({ t: g, trans: true }, { t: a, trans: transA }, batch, n, m, k, b.shape)
    : gemm({ t: a, trans: !transA }, { t: g, trans: false }, batch, k, m, n, b.shape),
  ]);
}

/** x·Wᵀ (+ bias): x (..., in), weight (out, in) f32 or frozen bf16 or quantised, bias (out). */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const y = matmul(x, weight, { transB: true });
  return bias === undefined ? y : add(y, bias);
}
