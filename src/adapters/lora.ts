// LoraLinear: a frozen Linear plus a trainable low-rank update, y = base(x) + s·B·A·dropout(x) (PEFT's LoRA layer, mlx-lm's fromBase/fuse).
import { keep, tidy, Tensor } from '../tensor/tensor.ts';
import { Rng } from '../tensor/random.ts';
import { uniform, zeros } from '../tensor/ops/create.ts';
import { scale } from '../tensor/ops/elementwise.ts';
import { loraLinear } from '../tensor/ops/lora.ts';
import { matmul } from '../tensor/ops/matmul.ts';
import { noGrad } from '../tensor/grad-mode.ts';
import { Linear } from '../nn/layers.ts';
import { Module } from '../nn/module.ts';
import { WhetError } from '../errors.ts';

export interface LoraLayerOptions {
  alpha: number;
  /** Scale by alpha/√r (rank-stabilised LoRA) instead of alpha/r. */
  rsLora?: boolean;
  /** Probability of zeroing an input of the LoRA branch while training. */
  dropout?: number;
  /** Stream for dropout masks (shared by every layer of a model so one state restores them all). */
  dropoutRng?: Rng;
}

/** PEFT's scaling factor: alpha/r, or alpha/√r with rsLoRA. */
export function loraScaling(r: number, alpha: number, rsLora = false): number {
  return rsLora ? alpha / Math.sqrt(r) : alpha / r;
}

export class LoraLinear extends Module {
  base_layer: Linear; // weight (out, in), frozen, f32 or bf16
  lora_A: Linear; // (r, in)
  lora_B: Linear; // (out, r)
  readonly r: number;
  readonly alpha: number;
  readonly rsLora: boolean;
  readonly scaling: number;
  readonly dropout: number;
  /** Off: the layer is its base alone (DPO's reference model, serving without this adapter). */
  enabled = true;
  /** Dropout runs only while training, as in PyTorch's train()/eval(). */
  training = false;
  readonly dropoutRng: Rng;

  /** Wraps base with given A (r, in) and B (out, r), which become trainable; the base is frozen. */
  constructor(base: Linear, loraA: Tensor, loraB: Tensor, opts: LoraLayerOptions) {
    super();
    const [out, inF] = base.weight.shape as [number, number];
    const r = loraA.dim(0);
    if (loraA.rank !== 2 || loraA.dim(1) !== inF || loraB.rank !== 2 || loraB.dim(0) !== out || loraB.dim(1) !== r)
      throw new Error(`LoRA shapes A [${loraA.shape.join(', ')}], B [${loraB.shape.join(', ')}] do not fit a base of [${out}, ${inF}]`);
    const dropout = opts.dropout ?? 0;
    if (!(dropout >= 0 && dropout < 1)) throw new WhetError(`LoRA dropout must be in [0, 1), got ${dropout}`);
    base.weight.requireGrad(false);
    base.bias?.requireGrad(false);
    this.base_layer = base;
    this.lora_A = new Linear(keep(loraA).requireGrad());
    this.lora_B = new Linear(keep(loraB).requireGrad());
    this.r = r;
    this.alpha = opts.alpha;
    this.rsLora = opts.rsLora ?? false;
    this.scaling = loraScaling(r, opts.alpha, this.rsLora);
    this.dropout = dropout;
    this.dropoutRng = opts.dropoutRng ?? new Rng(0);
  }

  /** A fresh adapter on base, initialised as PEFT does: A ~ kaiming_uniform(a=√5) = U(±1/√in), B = 0. */
  static fromBase(base: Linear, opts: LoraLayerOptions & { r: number; rng: Rng }): LoraLinear {
    const [out, inF] = base.weight.shape as [number, number];
    if (!Number.isInteger(opts.r) || opts.r < 1) throw new WhetError(`LoRA rank r must be a positive integer, got ${opts.r}`);
    const bound = 1 / Math.sqrt(inF);
    return new LoraLinear(base, uniform([opts.r, inF], opts.rng, -bound, bound), zeros([out, opts.r]), opts);
  }

  forward(x: Tensor): Tensor {
    if (!this.enabled) return this.base_layer.forward(x);
    // One draw per call fixes this call's mask; backward regenerates it from the seed.
    const dropout = this.training && this.dropout > 0 ? { p: this.dropout, seed: this.dropoutRng.nextU32() } : undefined;
    return loraLinear(x, this.base_layer.weight, this.base_layer.bias, this.lora_A.weight, this.lora_B.weight, this.scaling, dropout); // (..., out)
  }

  /** scaling·B·A (out, in) in f32. */
  delta(): Tensor {
    return noGrad(() => tidy(() => scale(matmul(this.lora_B.weight, this.lora_A.weight), this.scaling)));
  }

  /**
   * Folds the update into the base weight and returns the base Linear; A and B are freed. Merging needs the
   * full-precision weight: a bf16 base is refused unless f32Weight (an f32 copy of it, which becomes the
   * merged weight) is given.
   */
  fuse(f32Weight?: Tensor): Linear {
    const w = this.base_layer.weight;
    let target = w;
    if (f32Weight !== undefined) {
      if (f32Weight.dtype !== 'f32' || f32Weight.shape.join() !== w.shape.join())
        throw new WhetError(`f32 copy for merging is ${f32Weight.dtype} [${f32Weight.shape.join(', ')}], expected f32 [${w.shape.join(', ')}]`);
      target = f32Weight;
    } else if (w.dtype !== 'f32')
      throw new WhetError(`cannot merge LoRA into a ${w.dtype} weight: merging must happen in full precision (load the base in f32 or pass an f32 copy)`);
    const d = this.delta();
    const t = target.f;
    const dd = d.f;
    for (let i = 0; i < t.length; i++) t[i] += dd[i]!;
    d.dispose();
    if (target !== w) {
      w.dispose();
      this.base_layer.weight = keep(target);
    }
    this.lora_A.dispose();
    this.lora_B.dispose();
    return this.base_layer;
  }
}
