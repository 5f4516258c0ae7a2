// Finite-difference gradient check in float64 for any differentiable tensor function.
import assert from 'node:assert/strict';
import { backward, mul, noGrad, Rng, sum, tensor, Tensor, tidy } from '../../src/tensor/index.ts';

/** Random f64 leaf tensor requiring gradients. */
export function leaf(shape: number[], rng: Rng, lo = -1, hi = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = Array.from({ length: n }, () => lo + (hi - lo) * rng.uniform());
  return tensor(v, shape, 'f64').requireGrad();
}

/**
 * Checks d/dx sum(f(x)·R) from autograd against central differences for every element of every
 * input. tol is relative to the largest gradient magnitude of each input.
 */
export function gradcheck(f: (xs: Tensor[]) => Tensor, inputs: Tensor[], opts: { eps?: number; tol?: number; seed?: number } = {}): void {
  const eps = opts.eps ?? 1e-6;
  const tol = opts.tol ?? 1e-6;
  const rng = new Rng(opts.seed ?? 7);
  tidy(() => {
    const probe = noGrad(() => f(inputs));
    const weights = tensor(Array.from({ length: probe.size }, () => rng.uniform() * 2 - 1), probe.shape, 'f64');
    const loss = (): number => noGrad(() => tidy(() => sum(mul(f(inputs), weights)).item()));
    for (const x of inputs) x.grad = null;
    backward(sum(mul(f(inputs), weights)));
    inputs.forEach((x, i) => {
      if (!x.requiresGrad) return;
      const data = x.f;
      const numeric = new Float64Array(x.size);
      for (let j = 0; j < x.size; j++) {
        const saved = data[j]!;
        data[j] = saved + eps;
        const up = loss();
        data[j] = saved - eps;
        const down = loss();
        data[j] = saved;
        numeric[j] = (up - down) / (2 * eps);
      }
      assert.ok(x.grad !== null, `input ${i} got no gradient`);
      const analytic = x.grad.f;
      const scale = Math.max(1e-3, ...Array.from(numeric, Math.abs));
      for (let j = 0; j < x.size; j++) {
        const err = Math.abs(analytic[j]! - numeric[j]!);
        assert.ok(err <= tol * scale, `input ${i} [${x.shape.join(', ')}] element ${j}: autograd ${analytic[j]} vs finite difference ${numeric[j]}`);
      }
      x.grad.dispose();
      x.grad = null;
    });
  });
}
