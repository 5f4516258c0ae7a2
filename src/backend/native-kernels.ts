// Native non-GEMM kernels: a thin adapter from Backend ops to the addon's positional functions (native/src/kernels_*.cc).
import type { Backend, BinaryOp, UnaryOp } from './backend.ts';
import type { NativeAddon } from './addon.ts';
import { dropoutParams } from './dropout-mask.ts';

// Op codes of native/src/kernels.h.
const BINARY_CODE: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2, div: 3 };
const UNARY_CODE: Record<UnaryOp, number> = {
  exp: 0, log: 1, neg: 2, sqrt: 3, square: 4, relu: 5, tanh: 6, sigmoid: 7, silu: 8, logsigmoid: 9,
};

const MAX_RANK = 16;
// Shapes and strides travel packed in one reused buffer, [shape..., strides of each operand...], so a strided call
// allocates nothing.
const dims = new Float64Array(MAX_RANK * 3);

function packDims(op: string, shape: readonly number[], s0: readonly number[], s1?: readonly number[]): number {
  const rank = shape.length;
  if (rank > MAX_RANK) throw new TypeError(`${op}: rank ${rank} is above ${MAX_RANK}`);
  if (s0.length !== rank || (s1 !== undefined && s1.length !== rank)) {
    throw new TypeError(`${op}: ${s1 !== undefined && s0.length === rank ? s1.length : s0.length} strides for a rank-${rank} shape`);
  }
  for (let d = 0; d < rank; d++) {
    dims[d] = shape[d];
    dims[rank + d] = s0[d];
    if (s1 !== undefined) dims[2 * rank + d] = s1[d];
  }
  return rank;
}

export function nativeKernels(addon: NativeAddon): Omit<Backend, 'name' | 'matmul' | 'matmulQuant' | 'dequantRows' | 'attention' | 'attentionBackward' | 'attentionCached'> {
  return {
    fill: (out, offset, n, value) => addon.fill(out, offset, n, value),
    copyStrided(src, srcOffset, srcStrides, dst, dstOffset, shape) {
      const rank = packDims('copyStrided', shape, srcStrides);
      addon.copyStrided(src, srcOffset, dst, dstOffset, dims, rank);
    },
    castToBf16: (src, dst, n) => addon.castToBf16(src, dst, n),
    castFromBf16: (src, dst, n) => addon.castFromBf16(src, dst, n),

    binary(op, a, aOffset, aStrides, b, bOffset, bStrides, out, outShape) {
      const rank = packDims('binary', outShape, aStrides, bStrides);
      addon.binary(BINARY_CODE[op], a, aOffset, b, bOffset, out, dims, rank);
    },
    unary: (op, x, out, n) => addon.unary(UNARY_CODE[op], x, out, n),
    unaryBackward: (op, x, y, gy, gx, n) => addon.unaryBackward(UNARY_CODE[op], x, y, gy, gx, n),
    affine: (x, out, n, scale, shift) => addon.affine(x, out, n, scale, shift),

    reduceSum(x, shape, out, outStrides, outSize) {
      const rank = packDims('reduceSum', shape, outStrides);
      addon.reduceSum(x, out, outSize, dims, rank);
    },
    sumSquares: (x, n) => addon.sumSquares(x, n),

    rmsnorm: (x, w, y, rstd, rows, dim, eps) => addon.rmsnorm(x, w, y, rstd, rows, dim, eps),
    rmsnormBackward: (x, w, rstd, gy, gx, gw, rows, dim) => addon.rmsnormBackward(x, w, rstd, gy, gx, gw, rows, dim),
    rope: (x, out, rows, heads, dim, positions, invFreq, interleaved, inverse) =>
      addon.rope(x, out, rows, heads, dim, positions, invFreq, interleaved, inverse),
    swiglu: (gate, up, out, n) => addon.swiglu(gate, up, out, n),
    swigluBackward: (gate, up, gout, ggate, gup, n) => addon.swigluBackward(gate, up, gout, ggate, gup, n),
    dropout(x, out, n, p, seed) {
      const { threshold, scale } = dropoutParams(p);
      addon.dropout(x, out, n, seed >>> 0, threshold, scale);
    },
    softmax: (x, y, rows, n, causalQueryLen, causalOffset) => addon.softmax(x, y, rows, n, causalQueryLen, causalOffset),
    softmaxBackward: (y, gy, gx, rows, n) => addon.softmaxBackward(y, gy, gx, rows, n),
    logprobGather: (logits, targets, out, lse, rows, vocab, ignoreIndex) =>
      addon.logprobGather(logits, targets, out, lse, rows, vocab, ignoreIndex),
    logprobGatherBackward: (logits, targets, lse, gout, glogits, rows, vocab, ignoreIndex) =>
      addon.logprobGatherBackward(logits, targets, lse, gout, glogits, rows, vocab, ignoreIndex),
    embedding: (table, ids, out, n, dim) => addon.embedding(table, ids, out, n, dim),
    embeddingBackward: (gout, ids, gtable, n, dim) => addon.embeddingBackward(gout, ids, gtable, n, dim),
    // One call for every group: the addon reads a and b (JS arrays of Float32Arrays) itself (native/src/lora_binding.cc).
    loraGroups: (x, y, inF, outF, rows, offsets, a, b, ranks, scales) =>
      addon.loraGroups(x, y, inF, outF, rows, offsets, a, b, ranks, scales),

    adamw: ({ p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, bc1, bc2 }) =>
      addon.adamw(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, bc1, bc2),
  };
}
