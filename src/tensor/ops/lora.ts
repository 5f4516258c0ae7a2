// Fused LoRA linear: x·Wᵀ (+ b) + s·(drop(x)·Aᵀ)·Bᵀ in one output buffer, keeping only x and the rank-r product
// drop(x)·Aᵀ for backward. Dropout's mask is a hash of (seed, index), regenerated in backward, so it costs no memory.
import { record, Tensor } from '../tensor.ts';
import { gemm as product } from './matmul.ts';

/** op(a)·op(b) for one (m, k)·(k, n) pair, fresh or added to `into`. */
function gemm(a: Tensor, transA: boolean, b: Tensor, transB: boolean, m: number, k: number, n: number, shape: readonly number[], into?: Tensor): Tensor {
  return product({ t: a, trans: transA }, { t: b, trans: transB }, 1, m, k, n, shape, into);
}

/**
 * What an adapter adds to a layer's output, y (rows, out) += s·(x·Aᵀ)·Bᵀ for x (rows, in), a (r, in), b (out, r):
 * the one definition training's LoRA layer and serving's many-adapter layer share. Returns x·Aᵀ (rows, r), which
 * backward needs; the caller disposes it.
 */
export function addLoraBranch(x: Tensor, a: Tensor, b: Tensor, s: number, y: Tensor): Tensor {
  const [r, inF] = a.shape as [number, number];
  const outF = b.dim(0);
  const rows = x.size / inF;
  const xa = gemm(x, false, a, true, rows, inF, r, [rows, r]); // (rows, r)
  const xas = Tensor.empty([rows, r], x.dtype);
  x.backend.affine(xa.f, xas.f, xas.size, s, 0);
  gemm(xas, false, b, true, rows, r, outF, y.shape, y);
  xas.dispose();
  return xa;
}

/** y (rows, out) += bias (out), in place, after the branches (the order both LoRA layers keep). */
export function addBias(y: Tensor, bias: Tensor): void {
  const outF = bias.size;
  const rows = y.size / outF;
  y.backend.binary('add', y.f, 0, [outF, 1], bias.f, 0, [0, 1], y.f, [rows, outF]);
}

/** Dropout on the LoRA branch's input: probability p, and the seed that fixes this call's mask. */
export interface LoraDropout {
  p: number;
  seed: number;
}

/**
 * x (..., in), weight (out, in) (frozen, f32 or bf16), bias (out) or undefined, a (r, in), b (out, r),
 * scale s, optional dropout of the branch's input. Returns (..., out).
 */
export function loraLinear(x: Tensor, weight: Tensor, bias: Tensor | undefined, a: Tensor, b: Tensor, s: number, dropout?: LoraDropout): Tensor {
  const [outF, inF] = weight.shape as [number, number];
  const r = a.dim(0);
  const rows = x.size / inF;
  const be = x.backend;
  const outShape = [...x.shape.slice(0, -1), outF];
  const dropped = dropout !== undefined && dropout.p > 0;
  /** The branch's input (rows, in): x itself, or a fresh dropped-out copy the caller disposes. */
  const branchInput = (): Tensor => {
    if (!dropped) return x;
    const xd = Tensor.empty(x.shape, x.dtype);
    be.dropout(x.f, xd.f, x.size, dropout.p, dropout.seed);
    return xd;
  };
  const y = gemm(x, false, weight, true, rows, inF, outF, outShape); // (rows, out)
  const xd = branchInput();
  const xa = addLoraBranch(xd, a, b, s, y); // (rows, r)
  if (xd !== x) xd.dispose();
  if (bias !== undefined) addBias(y, bias);
  const inputs = bias === undefined ? [x, weight, a, b] : [x, weight, a, b, bias];
  return record(y, 'loraLinear', inputs, (g) => {
    // g (rows, out); gxa = s·g·B (rows, r) serves the A and x gradients.
    const gxa = gemm(g, false, b, false, rows, outF, r, [rows, r]);
    be.affine(gxa.f, gxa.f, gxa.size, s, 0);
    let gx: Tensor | null = null;
    if (x.requiresGrad) {
      gx = gemm(gxa, false, a, false, rows, r, inF, x.shape);
      if (dropped) be.dropout(gx.f, gx.f, gx.size, dropout.p, dropout.seed); // back through the same mask and scale
      gemm(g, false, weight, false, rows, outF, inF, x.shape, gx);
    }
    const gw = weight.requiresGrad ? gemm(g, true, x, false, outF, rows, inF, weight.shape) : null;
    let ga: Tensor | null = null;
    if (a.requiresGrad) {
      const xdAgain = branchInput();
      ga = gemm(gxa, true, xdAgain, false, r, rows, inF, a.shape);
      if (xdAgain !== x) xdAgain.dispose();
    }
    let gb: Tensor | null = null;
    if (b.requiresGrad) {
      gb = gemm(g, true, xa, false, outF, rows, r, b.shape);
      be.affine(gb.f, gb.f, gb.size, s, 0);
    }
    gxa.dispose();
    const grads: (Tensor | null)[] = [gx, gw, ga, gb];
    if (bias !== undefined) {
      const gbias = bias.requiresGrad ? Tensor.empty(bias.shape, bias.dtype) : null;
      if (gbias !== null) be.reduceSum(g.f, [rows, outF], gbias.f, [0, 1], outF);
      grads.push(gbias);
    }
    return grads;
  });
}
