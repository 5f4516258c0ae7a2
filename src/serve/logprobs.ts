// Engine tokens to OpenAI's two log-probability shapes: chat's `{content: [{token, logprob, bytes, top_logprobs}]}`
// and the legacy completions' parallel lists `{tokens, token_logprobs, top_logprobs, text_offset}`.
import type { TokenInfo } from './types.ts';

const bytes = (text: string): number[] => [...Buffer.from(text, 'utf8')];

export interface ChatLogprob {
  token: string;
  logprob: number | null;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

export function chatLogprobs(tokens: readonly TokenInfo[]): { content: ChatLogprob[]; refusal: null } {
  return {
    content: tokens.map((t) => ({
      token: t.text,
      logprob: t.logprob ?? null,
      bytes: bytes(t.text),
      top_logprobs: (t.top ?? []).map((c) => ({ token: c.text, logprob: c.logprob, bytes: bytes(c.text) })),
    })),
    refusal: null,
  };
}

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: Record<string, number>[];
  /** Where each token's text starts in the completion. */
  text_offset: number[];
}

/** `offset`: the completion's length before these tokens (a stream's earlier chunks). */
export function completionLogprobs(tokens: readonly TokenInfo[], offset = 0): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  for (const t of tokens) {
    out.tokens.push(t.text);
    out.token_logprobs.push(t.logprob ?? null);
    // As vLLM: the chosen token is listed with the top ones even when it is not among them.
    const top = new Map((t.top ?? []).map((c) => [c.text, c.logprob]));
    if (t.logprob !== undefined && !top.has(t.text)) top.set(t.text, t.logprob);
    out.top_logprobs.push(Object.fromEntries(top));
    out.text_offset.push(offset);
    offset += t.text.length;
  }
  return out;
}
