// Autoregressive generation with a KV cache: prefill, then token-by-token decoding of one or several
// prompts together, with sampling, stop tokens and strings, a token limit and streaming.
import { noGrad } from '../tensor/grad-mode.ts';
import { tidy } from '../tensor/tensor.ts';
import { narrow, reshape } from '../tensor/ops/shape.ts';
import { Rng } from '../tensor/random.ts';
import { KVCache } from '../model/kv-cache.ts';
import { modelContext } from '../model/context.ts';
import { WhetError } from '../errors.ts';
import type { LlamaModel } from '../model/llama.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { sampleToken, type SamplingOptions } from './sampling.ts';
import { StopMatcher } from './stop.ts';
import { SequenceText } from './sequence.ts';

export interface GenerateOptions extends SamplingOptions {
  maxTokens?: number;
  /** Same seed, same output. Default 0. */
  seed?: number;
  /** One seed per prompt instead of `seed` (several samples of one prompt in one call). */
  seeds?: number[];
  /** Token ids that end generation (default: the tokenizer's end-of-sequence ids). */
  stopTokens?: number[];
  /** Text that ends generation; it is not included in the output. */
  stopStrings?: string[];
  /** Called with each new piece of text as soon as it is final (never a part of a stop string). */
  onText?: (text: string, index: number) => void;
  /** Prompt plus generated tokens never exceed this (default: the model's context, modelContext). */
  ctx?: number;
  /** A prompt that leaves no room in the context: refused ('error', the default) or cut from the left ('left'). */
  truncate?: 'error' | 'left';
}

export interface Generation {
  tokens: number[];
  text: string;
  finishReason: 'stop' | 'length';
  /** Stopped because prompt and generated tokens filled the context (finishReason 'length'). */
  contextFull: boolean;
  /** Tokens of the prompt as it ran (after any truncation). */
  promptTokens: number;
  /** Tokens cut from the left of the prompt to fit the context (truncate: 'left'). */
  droppedPromptTokens: number;
  /** The end-of-sequence token that ended it (not in `tokens`), when one did. */
  stopToken?: number;
}

interface Sequence {
  text: SequenceText;
  cache: KVCache;
  rng: Rng;
  dropped: number;
}

/**
 * The prompt as it fits the context: unchanged when it leaves room for a token, else refused or cut from the left,
 * keeping a leading BOS and max(half the context, context − maxTokens) tokens in all.
 */
export function fitPrompt(prompt: number[], ctx: number, maxTokens: number, truncate: 'error' | 'left', bosId?: number): number[] {
  if (prompt.length < ctx) return prompt;
  if (truncate === 'error')
    throw new WhetError(`the prompt has ${prompt.length} tokens, but the model's context is ${ctx}: shorten it, or cut it from the left (--truncate left)`);
  const keep = Math.min(ctx - 1, Math.max(Math.ceil(ctx / 2), ctx - maxTokens));
  const head = bosId !== undefined && prompt[0] === bosId ? [bosId] : [];
  return [...head, ...prompt.slice(prompt.length - (keep - head.length))];
}

/** Generates a continuation of each prompt (token ids); prompts are decoded together, step by step. */
export function generate(model: LlamaModel, tokenizer: Tokenizer, prompts: number[][], opts: GenerateOptions = {}): Generation[] {
  const maxTokens = opts.maxTokens ?? 256;
  const ctx = opts.ctx ?? modelContext(model.config);
  const stopTokens = new Set(opts.stopTokens ?? tokenizer.eosIds);
  const stops = new StopMatcher(opts.stopStrings ?? []);
  const fitted = prompts.map((prompt) => {
    if (prompt.length === 0) throw new Error('generate: a prompt needs at least one token (e.g. BOS)');
    return fitPrompt(prompt, ctx, maxTokens, opts.truncate ?? 'error', tokenizer.bosId);
  });
  const seqs: Sequence[] = fitted.map((prompt, index) => {
    const budget = Math.min(maxTokens, ctx - prompt.length);
    return {
      text: new SequenceText(tokenizer, prompt, stopTokens, stops, budget, opts.onText === undefined ? undefined : (t) => opts.onText!(t, index)),
      cache: new KVCache(model.config, prompt.length + budget),
      rng: new Rng(opts.seeds?.[index] ?? opts.seed ?? 0),
      dropped: prompts[index]!.length - prompt.length,
    };
  });
  try {
    noGrad(() => {
      // Prefill each prompt on its own (lengths differ); the last position's logits give the first token.
      let logits = seqs.map((s) => lastLogits(model, Int32Array.from(s.text.context), [s.cache]));
      for (let step = 0; step < maxTokens; step++) {
        const active = seqs.filter((s) => s.text.done === undefined);
        active.forEach((s, i) => s.text.accept(sampleToken(logits[i]!, opts, s.rng, s.text.context)));
        const next = active.filter((s) => s.text.done === undefined);
        if (next.length === 0) break;
        logits = splitRows(lastLogitsBatch(model, Int32Array.from(next.map((s) => s.text.tokens[s.text.tokens.length - 1]!)), next.map((s) => s.cache)), model.config.vocabSize);
      }
    });
  } finally {
    for (const s of seqs) s.cache.dispose();
  }
  return seqs.map(({ text: s, dropped }) => ({
    tokens: s.tokens,
    text: s.text,
    finishReason: s.done ?? 'length',
    contextFull: s.done === 'length' && s.budget < maxTokens,
    promptTokens: s.context.length - s.tokens.length,
    droppedPromptTokens: dropped,
    ...(s.stopToken !== undefined ? { stopToken: s.stopToken } : {}),
  }));
}

/** Logits of the last position after running ids (one sequence) through the model with its cache. */
function lastLogits(model: LlamaModel, ids: Int32Array, caches: KVCache[]): Float32Array {
  return tidy(() => {
    const h = model.forward(ids, 1, { caches }); // (1, T, D)
    const last = narrow(reshape(h, [ids.length, model.config.hiddenSize]), 0, ids.length - 1, 1); // (1, D)
    return Float32Array.from(model.logits(last).f);
  });
}

/** Logits (B·V) for one new token per sequence. */
function lastLogitsBatch(model: LlamaModel, ids: Int32Array, caches: KVCache[]): Float32Array {
  return tidy(() => Float32Array.from(model.logits(model.forward(ids, ids.length, { caches })).f));
}

function splitRows(x: Float32Array, n: number): Float32Array[] {
  return Array.from({ length: x.length / n }, (_, i) => x.subarray(i * n, (i + 1) * n));
}
