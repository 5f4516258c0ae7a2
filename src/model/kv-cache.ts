// Key/value cache for one sequence: per layer (1, capacity, K, E) buffers filled as tokens are decoded.
import { keep, Tensor } from '../tensor/tensor.ts';
import type { ModelConfig } from './config.ts';

export class KVCache {
  readonly k: Tensor[]; // per layer (1, capacity, K, E)
  readonly v: Tensor[]; // per layer (1, capacity, K, E)
  readonly capacity: number;
  /** Tokens stored so far (the next token's position). */
  length = 0;

  constructor(cfg: ModelConfig, capacity: number) {
    this.capacity = capacity;
    const shape = [1, capacity, cfg.numKvHeads, cfg.headDim];
    this.k = Array.from({ length: cfg.numLayers }, () => keep(Tensor.empty(shape)));
    this.v = Array.from({ length: cfg.numLayers }, () => keep(Tensor.empty(shape)));
  }

  /** A new cache holding this one's stored tokens (a prompt prefilled once for several samples). */
  clone(cfg: ModelConfig): KVCache {
    const copy = new KVCache(cfg, this.capacity);
    const used = this.length * this.k[0]!.dim(2) * this.k[0]!.dim(3);
    this.k.forEach((t, l) => copy.k[l]!.f.set(t.f.subarray(0, used)));
    this.v.forEach((t, l) => copy.v[l]!.f.set(t.f.subarray(0, used)));
    copy.length = this.length;
    return copy;
  }

  /** Forgets everything stored (the buffers are reused). */
  reset(): void {
    this.length = 0;
  }

  dispose(): void {
    for (const t of [...this.k, ...this.v]) t.dispose();
  }
}
