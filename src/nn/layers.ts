// Basic layers: Linear (x·Wᵀ + b), Embedding, RMSNorm, each owning its parameters.
import { keep, Tensor } from '../tensor/tensor.ts';
import type { Rng } from '../tensor/random.ts';
import { ones, randn, uniform } from '../tensor/ops/create.ts';
import { linear } from '../tensor/ops/matmul.ts';
import { fusedLinear } from '../tensor/ops/linear-siblings.ts';
import { embedding, rmsnorm } from '../tensor/ops/layers.ts';
import { Module } from './module.ts';

export class Linear extends Module {
  weight: Tensor; // (out, in)
  bias?: Tensor; // (out)

  constructor(weight: Tensor, bias?: Tensor) {
    super();
    this.weight = weight;
    if (bias !== undefined) this.bias = bias;
  }

  /** PyTorch's default init: U(-1/√in, 1/√in) for weight and bias. */
  static init(inFeatures: number, outFeatures: number, rng: Rng, opts: { bias?: boolean } = {}): Linear {
    const bound = 1 / Math.sqrt(inFeatures);
    const w = keep(uniform([outFeatures, inFeatures], rng, -bound, bound)).requireGrad();
    const b = opts.bias === true ? keep(uniform([outFeatures], rng, -bound, bound)).requireGrad() : undefined;
    return new Linear(w, b);
  }

  /** While set, sees every Linear's input before it is multiplied (calibration statistics: an importance matrix). */
  static inputObserver: ((layer: Linear, x: Tensor) => void) | undefined;

  forward(x: Tensor): Tensor {
    Linear.inputObserver?.(this, x);
    return linear(x, this.weight, this.bias);
  }

  /**
   * Each layer's output for the same input (q/k/v, gate/up): one product when they are plain frozen Linears whose
   * weights lie back to back (see fusedLinear), else each layer's own forward (LoRA-wrapped layers, training).
   */
  static siblings(x: Tensor, layers: readonly { forward(x: Tensor): Tensor }[]): Tensor[] {
    const plain = Linear.inputObserver === undefined && layers.every((l) => l.constructor === Linear && (l as Linear).bias === undefined);
    return (plain ? fusedLinear(x, layers.map((l) => (l as Linear).weight)) : undefined) ?? layers.map((l) => l.forward(x));
  }
}

export class Embedding extends Module {
  weight: Tensor; // (vocab, dim)

  constructor(weight: Tensor) {
    super();
    this.weight = weight;
  }

  static init(vocab: number, dim: number, rng: Rng, std = 0.02): Embedding {
    return new Embedding(keep(randn([vocab, dim], rng, std)).requireGrad());
  }

  /** ids (B·T) with shape idsShape → (...idsShape, dim). */
  forward(ids: Int32Array, idsShape: readonly number[]): Tensor {
    return embedding(this.weight, ids, idsShape);
  }
}

export class RMSNorm extends Module {
  weight: Tensor; // (dim)
  readonly eps: number;

  constructor(weight: Tensor, eps: number) {
    super();
    this.weight = weight;
    this.eps = eps;
  }

  static init(dim: number, eps = 1e-5): RMSNorm {
    return new RMSNorm(keep(ones([dim])).requireGrad(), eps);
  }

  forward(x: Tensor): Tensor {
    return rmsnorm(x, this.weight, this.eps);
  }
}
