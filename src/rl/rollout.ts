// Rollouts for RL: each prompt of a step sampled num_generations times with the KV-cache generation engine (every
// completion of the step decoded together, one seed per completion), kept as token ids — prompt and completion with
// its end-of-sequence token when one ended it — ready for teacher-forced log-probs and the loss.
import type { LlamaModel } from '../model/llama.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { generate } from '../generate/generate.ts';
import type { TokenizedExample } from '../data/tokenize.ts';
import { IGNORE_INDEX } from '../tensor/ops/loss.ts';
import { withLoraEval } from '../adapters/apply.ts';

export interface Rollout {
  /** Index of its prompt in the step's prompt list (completions of one prompt form a group). */
  group: number;
  prompt: number[];
  /** Generated ids, the end-of-sequence token included when one ended the completion. */
  completion: number[];
  text: string;
  /** Stopped by the length limit (TRL's clipped completions). */
  clipped: boolean;
}

export interface RolloutOptions {
  generations: number;
  maxTokens: number;
  temperature: number;
  topP: number;
  stop: string[];
  /** A seed per completion: num_generations for each prompt, in order. */
  seeds: number[];
}

/** Samples `generations` completions for each prompt (token ids), all decoded together, dropout off. */
export function rollout(model: LlamaModel, tokenizer: Tokenizer, prompts: readonly number[][], opts: RolloutOptions): Rollout[] {
  const repeated = prompts.flatMap((p) => Array.from({ length: opts.generations }, () => p));
  const out = withLoraEval(model, () => generate(model, tokenizer, repeated, { maxTokens: opts.maxTokens, temperature: opts.temperature, topP: opts.topP, stopStrings: opts.stop, seeds: opts.seeds }));
  return out.map((g, i) => ({
    group: Math.floor(i / opts.generations),
    prompt: repeated[i]!,
    completion: g.stopToken === undefined ? g.tokens : [...g.tokens, g.stopToken],
    text: g.text,
    clipped: g.finishReason === 'length',
  }));
}

/** A rollout as a training example: loss on the completion tokens only. */
export function rolloutExample(r: Rollout): TokenizedExample {
  const ids = Int32Array.from([...r.prompt, ...r.completion]);
  return { ids, labels: Int32Array.from(ids, (id, i) => (i < r.prompt.length ? IGNORE_INDEX : id)), truncated: 0 };
}
