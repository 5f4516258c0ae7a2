// Perplexity of a model on a text: mean next-token NLL (nats/token) over consecutive windows of ctx tokens.
import { noGrad } from '../tensor/grad-mode.ts';
import { tidy } from '../tensor/tensor.ts';
import { linearCrossEntropy } from '../tensor/ops/linear-loss.ts';
import type { LlamaModel } from '../model/llama.ts';

export interface PerplexityResult {
  /** Mean negative log-likelihood, nats per predicted token. */
  nll: number;
  ppl: number;
  /** Tokens predicted. */
  tokens: number;
}

/**
 * Scores tokens in non-overlapping windows of ctx+1 tokens (each window predicts its last ctx tokens
 * from the ones before, within the window). onProgress gets (tokens done, total).
 */
export function perplexity(model: LlamaModel, tokens: readonly number[], ctx: number, onProgress?: (done: number, total: number) => void): PerplexityResult {
  if (tokens.length < 2) throw new Error('perplexity needs at least two tokens');
  let totalNll = 0;
  let count = 0;
  const total = tokens.length - 1;
  noGrad(() => {
    for (let start = 0; start + 1 < tokens.length; start += ctx) {
      const end = Math.min(start + ctx + 1, tokens.length);
      const inputs = Int32Array.from(tokens.slice(start, end - 1));
      const targets = Int32Array.from(tokens.slice(start + 1, end));
      totalNll += tidy(() => {
        const hidden = model.forward(inputs, 1); // (1, T, D)
        return linearCrossEntropy(hidden, model.headWeight(), targets, { reduction: 'sum' }).item();
      });
      count += targets.length;
      onProgress?.(count, total);
    }
  });
  const nll = totalNll / count;
  return { nll, ppl: Math.exp(nll), tokens: count };
}
