// The analytic memory estimate of a training step: weights, gradients and optimizer moments, the activations
// autograd keeps per token (counted from what each op of the Llama layer saves), and the output head's chunk.
import type { LlamaModel } from '../model/llama.ts';
import { loraLayers } from '../adapters/apply.ts';
import { bytesPerElement } from '../tensor/dtype.ts';
import { defaultChunkRows } from '../tensor/ops/linear-loss.ts';

export interface MemoryEstimate {
  /** Every weight as stored (frozen bf16 or f32). */
  weightsBytes: number;
  /** Gradients and AdamW's two moments of the trainable parameters (f32 each). */
  optimizerBytes: number;
  /** What the forward keeps for the backward, for the step's tokens. */
  activationsBytes: number;
  /** The output head's logits for one chunk of rows, and the hidden-state gradient the fused loss keeps. */
  headBytes: number;
  totalBytes: number;
}

export interface StepShape {
  /** Tokens in the step's batch, padding included (rows × padded length). */
  tokens: number;
  gradientCheckpointing?: boolean;
  /** Storage of the activations ops may keep in bf16 (SwiGLU's gate and up). */
  activations?: 'f32' | 'bf16';
}

/** Bytes a decoder layer keeps per token for its backward. */
export function activationBytesPerToken(model: LlamaModel, activations: 'f32' | 'bf16' = 'f32'): number {
  const { hiddenSize: d, intermediateSize: f, numHeads: h, numKvHeads: k, headDim: e } = model.config;
  // Residual stream in and after attention, the two norms' rstd, q/k/v (RoPE rotates in place), the attention
  // output and its logsumexp, in f32; gate and up in f32 or bf16. The norm outputs and the SwiGLU product are
  // recomputed in backward (recomputedBytesPerToken); the branch outputs of o_proj and down_proj become the
  // residual sums (addToBranch).
  let floats = 2 * d + 2 + h * e + 2 * k * e + h * e + h;
  const layer0 = model.model.layers[0]!;
  for (const { layer } of loraLayers(layer0)) floats += layer.r; // x·Aᵀ (dropout's mask is regenerated, not kept)
  return 4 * floats + 2 * f * (activations === 'bf16' ? 2 : 4);
}

/** Bytes per token that backward rebuilds in f32 for one layer at a time: norm outputs, SwiGLU product, gate and up. */
export function recomputedBytesPerToken(model: LlamaModel, activations: 'f32' | 'bf16' = 'f32'): number {
  const { hiddenSize: d, intermediateSize: f } = model.config;
  return 4 * (2 * d + f + (activations === 'bf16' ? 2 * f : 0));
}

export function estimateTrainingMemory(model: LlamaModel, step: StepShape): MemoryEstimate {
  let weightsBytes = 0;
  let trainable = 0;
  for (const [, t] of model.namedTensors()) {
    weightsBytes += t.size * bytesPerElement(t.dtype);
    if (t.requiresGrad) trainable += t.size;
  }
  const optimizerBytes = 3 * 4 * trainable;
  const { hiddenSize: d, numLayers, vocabSize } = model.config;
  // With checkpointing only each layer's input stays, plus one layer's activations while it is recomputed (in f32:
  // the recomputation runs in backward, outside the forward's choice of storage).
  const perLayer = activationBytesPerToken(model, step.gradientCheckpointing === true ? 'f32' : step.activations);
  const layers = (step.gradientCheckpointing === true ? 4 * numLayers * d + perLayer : numLayers * perLayer) + recomputedBytesPerToken(model, step.activations);
  const activationsBytes = step.tokens * (layers + 4 * 2 * d); // + the embedding output and the final norm
  const headBytes = 4 * (Math.min(defaultChunkRows(vocabSize), step.tokens) * vocabSize + step.tokens * d);
  return { weightsBytes, optimizerBytes, activationsBytes, headBytes, totalBytes: weightsBytes + optimizerBytes + activationsBytes + headBytes };
}
