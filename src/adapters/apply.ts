// Puts LoRA on a model (PEFT's target_modules matching), switches adapters on/off and train/eval, merges them into the base.
import type { Tensor } from '../tensor/tensor.ts';
import { Rng } from '../tensor/random.ts';
import { Linear } from '../nn/layers.ts';
import type { Module } from '../nn/module.ts';
import { WhetError } from '../errors.ts';
import { LoraLinear } from './lora.ts';
import { walkModules } from './walk.ts';

export interface LoraConfig {
  r: number;
  alpha: number;
  dropout: number;
  /** Module names as PEFT matches them (a path equal to, or ending in, `.name`), or every Linear but the output head. */
  targetModules: string[] | 'all-linear';
  /** Scale by alpha/√r instead of alpha/r. */
  rsLora?: boolean;
  /** Seeds the A initialisation and the dropout stream. */
  seed: number;
}

/** The output head: PEFT's all-linear leaves it out, and LlamaModel.logits reads its weight without calling forward. */
const OUTPUT_HEAD = 'lm_head';
/** A reward model's scalar head: trained whole (PEFT's modules_to_save), never wrapped in LoRA. */
export const SCORE_HEAD = 'score';

export function validateLoraConfig(cfg: LoraConfig): void {
  if (!Number.isInteger(cfg.r) || cfg.r < 1) throw new WhetError(`LoRA rank r must be a positive integer, got ${cfg.r}`);
  if (!Number.isFinite(cfg.alpha)) throw new WhetError(`LoRA alpha must be a number, got ${cfg.alpha}`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new WhetError(`LoRA dropout must be in [0, 1), got ${cfg.dropout}`);
  if (cfg.targetModules !== 'all-linear' && (!Array.isArray(cfg.targetModules) || cfg.targetModules.length === 0))
    throw new WhetError(`LoRA target modules must be a non-empty list of module names or 'all-linear'`);
}

/** PEFT's rule for a list of targets: the module path equals a target or ends with '.' + target. */
export function matchesTarget(path: string, targets: string[] | 'all-linear'): boolean {
  if (targets === 'all-linear') return path !== OUTPUT_HEAD && path !== SCORE_HEAD;
  return targets.some((t) => path === t || path.endsWith(`.${t}`));
}

/** Every LoRA layer of the model with its path (the path of the Linear it wraps). */
export function loraLayers(model: Module): { path: string; layer: LoraLinear }[] {
  const out: { path: string; layer: LoraLinear }[] = [];
  walkModules(model, ({ path, module }) => {
    if (!(module instanceof LoraLinear)) return true;
    out.push({ path, layer: module });
    return false;
  });
  return out;
}

/** Every Linear of the model outside LoRA layers, by path. */
export function linearLayers(model: Module): Map<string, { layer: Linear; replace: (m: Module) => void }> {
  const out = new Map<string, { layer: Linear; replace: (m: Module) => void }>();
  walkModules(model, ({ path, module, replace }) => {
    if (module instanceof LoraLinear) return false;
    if (module instanceof Linear) out.set(path, { layer: module, replace });
    return true;
  });
  return out;
}

/** Requires that the model has no LoRA yet: one adapter per model (merge or unload the first). */
export function assertNoLora(model: Module): void {
  const existing = loraLayers(model);
  if (existing.length > 0) throw new WhetError(`the model already has LoRA on ${existing.length} layers (${existing[0]!.path}, …): merge or unload it first`);
}

/** Sets requiresGrad false on every tensor of the model (LoRA weights are made trainable afterwards). */
export function freezeAll(model: Module): void {
  for (const [, t] of model.namedTensors()) t.requireGrad(false);
}

/**
 * Wraps the matching Linear layers in LoRA and freezes everything else, so model.parameters() is exactly the
 * LoRA weights. Returns the new layers in model order; they share one dropout stream (`layers[0].dropoutRng`).
 */
export function applyLora(model: Module, cfg: LoraConfig): LoraLinear[] {
  validateLoraConfig(cfg);
  assertNoLora(model);
  const linears = linearLayers(model);
  const targets = [...linears].filter(([path]) => matchesTarget(path, cfg.targetModules));
  const head = targets.find(([path]) => path === OUTPUT_HEAD || path === SCORE_HEAD);
  if (head !== undefined) throw new WhetError(`LoRA on the output head '${head[0]}' is not supported (target the projections, or use 'all-linear')`);
  if (targets.length === 0) {
    const names = [...new Set([...linears.keys()].map((p) => p.slice(p.lastIndexOf('.') + 1)))];
    throw new WhetError(`LoRA target modules ${JSON.stringify(cfg.targetModules)} match no Linear layer of the model (its Linear layers: ${names.join(', ')})`);
  }
  freezeAll(model);
  const rng = new Rng(cfg.seed);
  const dropoutRng = new Rng(cfg.seed ^ 0x5bd1e995);
  return targets.map(([, { layer, replace }]) => {
    const lora = LoraLinear.fromBase(layer, { r: cfg.r, alpha: cfg.alpha, rsLora: cfg.rsLora, dropout: cfg.dropout, rng, dropoutRng });
    replace(lora);
    return lora;
  });
}

/** Turns every adapter of the model on or off (off: the model is its base). */
export function setLoraEnabled(model: Module, on: boolean): void {
  for (const { layer } of loraLayers(model)) layer.enabled = on;
}

/** Training mode (LoRA dropout active) or evaluation mode for every adapter of the model. */
export function setLoraTraining(model: Module, on: boolean): void {
  for (const { layer } of loraLayers(model)) layer.training = on;
}

/** Runs fn with every adapter in evaluation mode (no dropout), then puts each back as it was. */
export function withLoraEval<T>(model: Module, fn: () => T): T {
  const layers = loraLayers(model).map(({ layer }) => layer);
  const was = layers.map((l) => l.training);
  for (const l of layers) l.training = false;
  try {
    return fn();
  } finally {
    layers.forEach((l, i) => (l.training = was[i]!));
  }
}

/** The trainable LoRA weights (A and B of every layer), in model order. */
export function loraParameters(model: Module): Tensor[] {
  return loraLayers(model).flatMap(({ layer }) => [layer.lora_A.weight, layer.lora_B.weight]);
}

export interface MergeOptions {
  /**
   * An f32 copy of a base weight by its name ('model.layers.0.self_attn.q_proj.weight'), for bases held in
   * bf16: the copy becomes the merged weight. Without it a bf16 base is refused.
   */
  f32Weight?: (name: string) => Tensor | undefined;
}

/** W ← W + scaling·B·A for every adapter, in f32, replacing each LoRA layer by its base Linear. Returns how many merged. */
export function mergeLora(model: Module, opts: MergeOptions = {}): number {
  const layers = loraLayers(model);
  // Check every layer before changing any, so a refusal leaves the model as it was.
  const copies = new Map<LoraLinear, Tensor | undefined>();
  for (const { path, layer } of layers) {
    const copy = opts.f32Weight?.(`${path}.weight`);
    if (copy === undefined && layer.base_layer.weight.dtype !== 'f32')
      throw new WhetError(`cannot merge LoRA into ${path}.weight, which is ${layer.base_layer.weight.dtype}: merging must happen in full precision (load the base in f32 or pass an f32 copy)`);
    copies.set(layer, copy);
  }
  walkModules(model, ({ module, replace }) => {
    if (!(module instanceof LoraLinear)) return true;
    replace(module.fuse(copies.get(module)));
    return false;
  });
  return layers.length;
}

/** Removes every adapter without merging (PEFT's unload): the model is its base again. */
export function unloadLora(model: Module): void {
  walkModules(model, ({ module, replace }) => {
    if (!(module instanceof LoraLinear)) return true;
    module.lora_A.dispose();
    module.lora_B.dispose();
    replace(module.base_layer);
    return false;
  });
}
