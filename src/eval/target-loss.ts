// Holdout loss of a dataset: mean NLL over the tokens training puts loss on (completions and assistant turns, each
// ended by EOS), tokenised exactly as training tokenises them, at forward speed: no gradients, batches cut by a
// token budget from examples sorted by length, and the output head chunked so no batch holds its logits.
import { noGrad } from '../tensor/grad-mode.ts';
import { tidy } from '../tensor/tensor.ts';
import { linearCrossEntropy } from '../tensor/ops/linear-loss.ts';
import type { LlamaModel } from '../model/llama.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import type { Example } from '../data/formats.ts';
import { tokenizeExample, type TokenizedExample } from '../data/tokenize.ts';
import { modelContext } from '../model/context.ts';
import { nextTokenTargets, padBatch, type Batch } from '../data/batch.ts';

export interface TargetLoss {
  /** Mean NLL, nats per loss token. */
  nll: number;
  ppl: number;
  /** Loss tokens scored. */
  tokens: number;
  /** Examples cut to the model's context. */
  truncated: number;
}

export interface TargetLossOptions {
  /** Most tokens (rows × padded length) per forward pass. Default 4096. */
  batchTokens?: number;
  /** Longest example, tokens. Default: the model's context (max_position_embeddings). */
  maxLength?: number;
  onProgress?: (examplesDone: number) => void;
}

/**
 * Batches for scoring: examples sorted longest first, each batch as many as fit in maxTokens once padded to its
 * first (longest) example, so padding is small and no batch is larger than the budget (a longer example alone).
 */
export function scoringBatches(examples: readonly TokenizedExample[], padId: number, maxTokens: number): Batch[] {
  const order = examples.map((_, i) => i).sort((a, b) => examples[b]!.ids.length - examples[a]!.ids.length || a - b);
  const batches: Batch[] = [];
  for (let i = 0; i < order.length; ) {
    const longest = examples[order[i]!]!.ids.length;
    const rows = Math.max(1, Math.floor(maxTokens / Math.max(longest, 1)));
    batches.push(padBatch(order.slice(i, i + rows).map((j) => examples[j]!), padId));
    i += rows;
  }
  return batches;
}

/** Summed NLL of a batch's loss tokens (no gradients; the caller puts adapters in eval mode). */
export function batchNll(model: LlamaModel, batch: Batch): number {
  return noGrad(() =>
    tidy(() => {
      const hidden = model.forward(batch.ids, batch.batch, { positions: batch.positions, segments: batch.segments }); // (B, T, D)
      return linearCrossEntropy(hidden, model.headWeight(), nextTokenTargets(batch), { reduction: 'sum' }).item();
    }),
  );
}

export function targetLoss(model: LlamaModel, tokenizer: Tokenizer, examples: readonly Example[], opts: TargetLossOptions = {}): TargetLoss {
  const maxLength = opts.maxLength ?? modelContext(model.config);
  const padId = tokenizer.padId ?? tokenizer.eosIds[0] ?? 0;
  const tokenized = examples.map((e) => tokenizeExample(e, tokenizer, { maxLength }));
  let total = 0;
  let tokens = 0;
  let done = 0;
  for (const batch of scoringBatches(tokenized, padId, opts.batchTokens ?? 4096)) {
    total += batchNll(model, batch);
    tokens += batch.lossTokens;
    done += batch.batch;
    opts.onProgress?.(done);
  }
  const nll = total / tokens;
  return { nll, ppl: Math.exp(nll), tokens, truncated: tokenized.filter((t) => t.truncated > 0).length };
}
