// Token-length statistics of a tokenized dataset (ids and loss tokens) and what truncation at a maximum length would cut.
import { IGNORE_INDEX } from '../tensor/ops/loss.ts';
import type { TokenizedExample } from './tokenize.ts';

export interface Summary {
  min: number;
  mean: number;
  p50: number;
  p95: number;
  max: number;
}

export interface TokenStats {
  examples: number;
  ids: Summary;
  loss: Summary;
  totalIds: number;
  totalLoss: number;
  /** With a maximum length: examples longer than it and the tokens it would cut. */
  truncation?: Cut;
  /** With a model: examples longer than its context and the tokens past it. */
  context?: Cut;
}

export interface Cut {
  maxLength: number;
  examples: number;
  tokens: number;
}

function cut(lengths: readonly number[], maxLength: number): Cut {
  const over = lengths.filter((n) => n > maxLength);
  return { maxLength, examples: over.length, tokens: over.reduce((a, n) => a + n - maxLength, 0) };
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { min: 0, mean: 0, p50: 0, p95: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const total = sorted.reduce((a, b) => a + b, 0);
  return { min: sorted[0]!, mean: total / sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), max: sorted[sorted.length - 1]! };
}

/** Statistics of untruncated examples; `maxLength` and a model's `context` report what cutting them to each would remove. */
export function tokenStats(examples: readonly TokenizedExample[], maxLength?: number, context?: number): TokenStats {
  const lengths = examples.map((e) => e.ids.length);
  const losses = examples.map((e) => e.labels.reduce((n, l) => n + (l === IGNORE_INDEX ? 0 : 1), 0));
  const stats: TokenStats = {
    examples: examples.length,
    ids: summarize(lengths),
    loss: summarize(losses),
    totalIds: lengths.reduce((a, b) => a + b, 0),
    totalLoss: losses.reduce((a, b) => a + b, 0),
  };
  if (maxLength !== undefined) stats.truncation = cut(lengths, maxLength);
  if (context !== undefined) stats.context = cut(lengths, context);
  return stats;
}
