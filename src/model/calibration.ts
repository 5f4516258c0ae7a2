// Calibration statistics for GPTQ: the Gram matrix E[x·xᵀ] of every linear layer's input over calibration text,
// which says how errors in each weight column combine in the layer's output on inputs like that text.
import { Linear } from '../nn/layers.ts';
import { noGrad } from '../tensor/grad-mode.ts';
import { tidy, type Tensor } from '../tensor/tensor.ts';
import { matmul } from '../tensor/ops/matmul.ts';
import { reshape } from '../tensor/ops/shape.ts';
import type { LlamaModel } from './llama.ts';

/** Inputs wider than this keep no Gram matrix (k² floats each; GPTQ then quantises their layers without one). */
export const MAX_GRAM_COLUMNS = 2048;

/**
 * Runs the model over `tokens` in windows of `ctx` and returns, per weight name (the model's own names), the mean
 * of x·xᵀ over every token, (k, k) row-major. Layers fed the same input (q/k/v, gate/up) share one matrix.
 */
export function calibrationGrams(model: LlamaModel, tokens: readonly number[], ctx: number, onProgress?: (done: number, total: number) => void): Map<string, Float32Array> {
  const names = new Map<Tensor, string>(model.namedTensors().map(([name, t]) => [t, name]));
  const sums = new Map<string, { sum: Float64Array; rows: number }>();
  let lastInput: Tensor | undefined;
  let lastSum: { sum: Float64Array; rows: number } | undefined;
  Linear.inputObserver = (layer, x) => {
    const name = names.get(layer.weight);
    const k = x.dim(-1);
    if (name === undefined || k > MAX_GRAM_COLUMNS) return;
    if (x === lastInput && lastSum !== undefined) {
      sums.set(name, lastSum);
      return;
    }
    let acc = sums.get(name);
    if (acc === undefined) sums.set(name, (acc = { sum: new Float64Array(k * k), rows: 0 }));
    const rows = x.size / k;
    tidy(() => {
      const x2 = reshape(x, [rows, k]);
      const g = matmul(x2, x2, { transA: true }).f; // (k, k)
      for (let i = 0; i < g.length; i++) acc.sum[i] += g[i]!;
    });
    acc.rows += rows;
    lastInput = x;
    lastSum = acc;
  };
  try {
    noGrad(() => {
      for (let start = 0; start < tokens.length; start += ctx) {
        const window = Int32Array.from(tokens.slice(start, start + ctx));
        tidy(() => model.forward(window, 1));
        onProgress?.(Math.min(tokens.length, start + ctx), tokens.length);
      }
    });
  } finally {
    Linear.inputObserver = undefined;
  }
  const means = new Map<Float64Array, Float32Array>();
  return new Map([...sums].map(([name, { sum, rows }]) => {
    let mean = means.get(sum);
    if (mean === undefined) means.set(sum, (mean = Float32Array.from(sum, (s) => s / rows)));
    return [name, mean];
  }));
}
