// Importance matrix (llama.cpp's imatrix): the mean square of each input column of every linear layer over
// calibration text. Weighted quantisers spend their precision where those activations are large.
import { Linear } from '../nn/layers.ts';
import { noGrad } from '../tensor/grad-mode.ts';
import { tidy, type Tensor } from '../tensor/tensor.ts';
import type { LlamaModel } from './llama.ts';

/**
 * Runs the model over `tokens` in windows of `ctx` and returns, per weight name (the model's own names), the mean of
 * x² of each input column over every token (Float32Array, one value per column).
 */
export function importanceMatrix(model: LlamaModel, tokens: readonly number[], ctx: number, onProgress?: (done: number, total: number) => void): Map<string, Float32Array> {
  const names = new Map<Tensor, string>(model.namedTensors().map(([name, t]) => [t, name]));
  const sums = new Map<string, { sum: Float64Array; rows: number }>();
  Linear.inputObserver = (layer, x) => {
    const name = names.get(layer.weight);
    if (name === undefined) return;
    const k = x.dim(-1);
    const xs = x.f; // (rows, k)
    let acc = sums.get(name);
    if (acc === undefined) sums.set(name, (acc = { sum: new Float64Array(k), rows: 0 }));
    const rows = xs.length / k;
    for (let r = 0; r < rows; r++) for (let j = 0, o = r * k; j < k; j++) acc.sum[j] += xs[o + j]! * xs[o + j]!;
    acc.rows += rows;
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
  return new Map([...sums].map(([name, { sum, rows }]) => [name, Float32Array.from(sum, (s) => s / rows)]));
}
