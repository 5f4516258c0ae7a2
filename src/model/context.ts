// A model's usable context: the one place that knows it (max_position_embeddings, GGUF's context_length, a
// linear RoPE scaling's factor) and checks a requested --ctx against it.
import { WhetError } from '../errors.ts';
import type { ModelConfig } from './config.ts';

/**
 * Tokens the model was trained to attend over. Llama 3's rope_scaling already counts in max_position_embeddings
 * (131072 for 3.1); a linear scaling stretches the positions it was trained on by its factor.
 */
export function modelContext(cfg: ModelConfig): number {
  const s = cfg.ropeScaling;
  return s?.type === 'linear' ? Math.floor(cfg.maxPositionEmbeddings * s.factor) : cfg.maxPositionEmbeddings;
}

/** The context to use: the model's, or `requested`, which may exceed the model's only with `extrapolate`. */
export function resolveContext(cfg: ModelConfig, requested?: number, extrapolate = false): number {
  const ctx = modelContext(cfg);
  if (requested === undefined) return ctx;
  if (requested > ctx && !extrapolate)
    throw new WhetError(`--ctx ${requested} exceeds the model's context of ${ctx} tokens (max_position_embeddings); add --extrapolate to use it anyway with a model known to extrapolate`);
  return requested;
}
