// AdamW (decoupled weight decay) over a set of parameters, one fused kernel call per parameter.
import { keep, Tensor } from '../tensor/tensor.ts';
import { zeros } from '../tensor/ops/create.ts';

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

export class AdamW {
  readonly params: Tensor[];
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  lr: number;
  /** Number of updates taken (bias corrections use it). */
  step = 0;
  /** First and second moments, one pair per parameter, created on first use. */
  readonly m: (Tensor | null)[];
  readonly v: (Tensor | null)[];

  constructor(params: Tensor[], opts: AdamWOptions) {
    this.params = params;
    this.lr = opts.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    this.m = params.map(() => null);
    this.v = params.map(() => null);
  }

  /** Applies one update from each parameter's .grad (parameters without a gradient are skipped). */
  update(lr = this.lr): void {
    this.step++;
    const bc1 = 1 - Math.pow(this.beta1, this.step);
    const bc2 = 1 - Math.pow(this.beta2, this.step);
    this.params.forEach((p, i) => {
      if (p.grad === null) return;
      const m = (this.m[i] ??= keep(zeros(p.shape, p.dtype)));
      const v = (this.v[i] ??= keep(zeros(p.shape, p.dtype)));
      p.backend.adamw({ p: p.f, g: p.grad.f, m: m.f, v: v.f, n: p.size, lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, bc1, bc2 });
    });
  }

  /** Clears every parameter's gradient (freeing it). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t?.dispose();
  }
}
