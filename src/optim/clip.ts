// Global gradient-norm clipping across all parameters (as torch.nn.utils.clip_grad_norm_).
import type { Tensor } from '../tensor/tensor.ts';

/** Scales every gradient so the global L2 norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  let sq = 0;
  for (const p of params) if (p.grad !== null) sq += p.grad.backend.sumSquares(p.grad.f, p.grad.size);
  const norm = Math.sqrt(sq);
  if (Number.isFinite(norm) && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (const p of params) if (p.grad !== null) p.grad.backend.affine(p.grad.f, p.grad.f, p.grad.size, s, 0);
  }
  return norm;
}

/** The global L2 norm of the gradients (no clipping). */
export function gradNorm(params: readonly Tensor[]): number {
  return clipGradNorm(params, Infinity);
}
