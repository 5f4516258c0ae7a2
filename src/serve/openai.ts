// Pieces of OpenAI's response objects that both generation routes use: ids, timestamps, usage.
import { randomBytes } from 'node:crypto';
import type { GenerationResult } from './types.ts';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function usageOf(result: GenerationResult): Usage {
  return { prompt_tokens: result.promptTokens, completion_tokens: result.completionTokens, total_tokens: result.promptTokens + result.completionTokens };
}

/** `chatcmpl-…` or `cmpl-…` with 24 random hex digits, as OpenAI's ids look. */
export function responseId(prefix: 'chatcmpl' | 'cmpl'): string {
  return `${prefix}-${randomBytes(12).toString('hex')}`;
}

/** Unix seconds, OpenAI's `created`. */
export const unixNow = (): number => Math.floor(Date.now() / 1000);
