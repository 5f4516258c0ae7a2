// Fused LoRA linear: x·Wᵀ (+ b) + s·(xd·Aᵀ)·Bᵀ in one output buffer, keeping only x, xd and the rank-r
// product xd·Aᵀ for backward (the unfused form holds three more full-width activations per layer).
import { record, Tensor } from '../tensor.ts';
import { gemm as product } from './matmul.ts';

/** op(a)·op(b) for one (m, k)·(k, n) pair, fresh or added to `into`. */
function gemm(a: Tensor, transA: boolean, b: Tensor, transB: boolean, m: number, k: number, n: number, shape: readonly number[], into?: Tensor): Tensor {
  return product({ t: a, trans: transA }, { t: b, trans: transB }, 1, m, k, n, shape, into);
}

/**
 * x (..., in), weight (out, in) (frozen, f32 or bf16), bias (out) or undefined, a (r, in), b (out, r),
 * scale s, xd = the LoRA branch's input (x, or x after dropout). Returns (..., out).
 */
export function loraLinear(x: Tensor, weight: Tensor, bias: Tensor | undefined, a: Tensor, b: Tensor, s: number, xd: Tensor = x): Tensor {
  const [outF, inF] = weight.shape as [number, number];
  const r = a.dim(0);
  const rows = x.size / inF;
  const be = x.backend;
  const outShape = [...x.shape.slice(0, -1), outF];
  const y = gemm(x, false, weight, true, rows, inF, outF, outShape); // (rows, out)
  const xa = gemm(xd, false, a, true, rows, inF, r, [rows, r]); // (rows, r)
  const xas = Tensor.empty([rows, r], x.dtype);
  be.affine(xa.f, xas.f, xas.size, s, 0);
  gemm(xas, false, b, true, rows, r, outF, outShape, y);
  xas.dispose();
  if (bias !== undefined) be.binary('add', y.f, 0, [outF, 1], bias.f, 0, [0, 1], y.f, [rows, outF]);
  const inputs = bias === undefined ? [x, weight, a, b, xd] : [x, weight, a, b, xd, bias];
  return record(y, 'loraLinear', inputs, (g) => {
    // g (rows, out); gxa = s·g·B (rows, r) serves the A and xd gradients.
    const gxa = gemm(g, false, b, false, rows, outF, r, [rows, r]);
    be.affine(gxa.f, gxa.f, gxa.size, s, 0);
    let gx: Tensor | null = null;
    if (x.requiresGrad) {
      gx = gemm(g, false, weight, false, rows, outF, inF, x.shape);
      if (xd === x) gemm(gxa, false, a, false, rows, r, inF, x.shape, gx);
    }
    const gxd = xd !== x && xd.requiresGrad ? gemm(gxa, false, a, false, rows, r, inF, xd.shape) : null;
    const gw = weight.requiresGrad ? gemm(g, true, x, false, outF, rows, inF, weight.shape) : null;
    const ga = a.requiresGrad ? gemm(gxa, true, xd, false, r, rows, inF, a.shape) : null;
    let gb: Tensor | null = null;
    if (b.requiresGrad) {
      gb = gemm(g, true, xa, false, outF, rows, r, b.shape);
      be.affine(gb.f, gb.f, gb.size, s, 0);
    }
    gxa.dispose();
    const grads: (Tensor | null)[] = [gx, gw, ga, gb, gxd];
    if (bias !== undefined) {
      const gbias = bias.requiresGrad ? Tensor.empty(bias.shape, bias.dtype) : null;
      if (gbias !== null) be.reduceSum(g.f, [rows, outF], gbias.f, [0, 1], outF);
      grads.push(gbias);
    }
    return grads;
  });
}
