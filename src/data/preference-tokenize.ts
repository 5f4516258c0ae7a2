// Preference pairs and feedback as token ids: each answer tokenised with its prompt through the model's chat
// template (as SFT does, so loss masks come from offsets and the answer ends with its end-of-turn token); the
// prompt carries no loss, and a pair whose prompt tokenises differently or leaves no answer token is reported.
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { IGNORE_INDEX } from '../tensor/ops/loss.ts';
import type { Example } from './formats.ts';
import type { Feedback, PreferencePair, Prompt } from './preference.ts';
import { tokenizeExample, type TokenizedExample, type TokenizeOptions } from './tokenize.ts';

export interface TokenizedPair {
  chosen: TokenizedExample;
  rejected: TokenizedExample;
  /** Tokens of the shared prompt (both answers start after them). */
  promptTokens: number;
  group?: number;
  margin?: number;
}

export interface TokenizedFeedback {
  example: TokenizedExample;
  label: boolean;
}

/** The prompt and one answer as an SFT example whose only loss is the answer. */
export function answerExample(prompt: Prompt, answer: string): Example {
  if (typeof prompt === 'string') return { kind: 'completion', prompt, completion: answer };
  return { kind: 'chat', messages: [...prompt.map((t) => (t.role === 'assistant' ? { ...t, weight: 0 as const } : t)), { role: 'assistant', content: answer }] };
}

/** Index of the first token carrying loss, or -1 when truncation left none. */
function firstLoss(t: TokenizedExample): number {
  return t.labels.findIndex((l) => l !== IGNORE_INDEX);
}

/** Both answers of a pair with their shared prompt; throws an Error saying why a pair cannot be trained on. */
export function tokenizePair(pair: PreferencePair, tokenizer: Tokenizer, opts: Pick<TokenizeOptions, 'template' | 'maxLength'> = {}): TokenizedPair {
  const chosen = tokenizeExample(answerExample(pair.prompt, pair.chosen), tokenizer, opts);
  const rejected = tokenizeExample(answerExample(pair.prompt, pair.rejected), tokenizer, opts);
  const [c, r] = [firstLoss(chosen), firstLoss(rejected)];
  if (c < 0 || r < 0) throw new Error(`the prompt fills max_length (${opts.maxLength} tokens): no answer token is left to compare`);
  if (c !== r || chosen.ids.subarray(0, c).some((id, i) => id !== rejected.ids[i]))
    throw new Error('the prompt tokenises differently before the two answers (a merge across the prompt/answer boundary): the pair would not compare the same prompt');
  return { chosen, rejected, promptTokens: c, ...(pair.group !== undefined ? { group: pair.group } : {}), ...(pair.margin !== undefined ? { margin: pair.margin } : {}) };
}

/** An unpaired answer with its prompt; throws when truncation leaves no answer token. */
export function tokenizeFeedback(f: Feedback, tokenizer: Tokenizer, opts: Pick<TokenizeOptions, 'template' | 'maxLength'> = {}): TokenizedFeedback {
  const example = tokenizeExample(answerExample(f.prompt, f.completion), tokenizer, opts);
  if (firstLoss(example) < 0) throw new Error(`the prompt fills max_length (${opts.maxLength} tokens): no answer token is left`);
  return { example, label: f.label };
}
