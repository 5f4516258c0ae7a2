// Holdout loss of a dataset: mean NLL over the tokens training puts loss on (completions and assistant turns, each
// ended by EOS), tokenised exactly as training tokenises them.
import { noGrad } from '../tensor/grad-mode.ts';
import { tidy } from '../tensor/tensor.ts';
import { reshape } from '../tensor/ops/shape.ts';
import { crossEntropy } from '../tensor/ops/loss.ts';
import type { LlamaModel } from '../model/llama.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import type { Example } from '../data/formats.ts';
import { tokenizeExample } from '../data/tokenize.ts';
import { nextTokenTargets, padBatch } from '../data/batch.ts';

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
  /** Examples per forward pass. Default 8. */
  batchSize?: number;
  /** Longest example, tokens. Default: the model's context (max_position_embeddings). */
  maxLength?: number;
  onProgress?: (examplesDone: number) => void;
}

export function targetLoss(model: LlamaModel, tokenizer: Tokenizer, examples: readonly Example[], opts: TargetLossOptions = {}): TargetLoss {
  const batchSize = opts.batchSize ?? 8;
  const maxLength = opts.maxLength ?? model.config.maxPositionEmbeddings;
  const padId = tokenizer.padId ?? tokenizer.eosIds[0] ?? 0;
  let total = 0;
  let tokens = 0;
  let truncated = 0;
  noGrad(() => {
    for (let i = 0; i < examples.length; i += batchSize) {
      const tokenized = examples.slice(i, i + batchSize).map((e) => tokenizeExample(e, tokenizer, { maxLength }));
      truncated += tokenized.filter((t) => t.truncated > 0).length;
      const batch = padBatch(tokenized, padId);
      const targets = nextTokenTargets(batch);
      total += tidy(() => {
        const logits = model.logits(model.forward(batch.ids, batch.batch, { positions: batch.positions })); // (B, T, V)
        return crossEntropy(reshape(logits, [batch.batch * batch.time, model.config.vocabSize]), targets, { reduction: 'sum' }).item();
      });
      tokens += batch.lossTokens;
      opts.onProgress?.(Math.min(i + batchSize, examples.length));
    }
  });
  const nll = total / tokens;
  return { nll, ppl: Math.exp(nll), tokens, truncated };
}
