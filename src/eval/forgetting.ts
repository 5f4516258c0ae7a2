// Forgetting check: perplexity of the base and the fine-tuned model on general text, and whether the NLL rose past a threshold.
import type { LlamaModel } from '../model/llama.ts';
import { perplexity, type PerplexityResult } from './perplexity.ts';

export interface ForgettingOptions {
  /** Window length for perplexity, tokens. Default 512. */
  ctx?: number;
  /** Largest relative NLL increase still "ok": 0.1 = +10 %. Default 0.1. */
  threshold?: number;
  onProgress?: (which: 'base' | 'tuned', done: number, total: number) => void;
}

export interface ForgettingResult {
  base: PerplexityResult;
  tuned: PerplexityResult;
  /** (tuned NLL − base NLL) / base NLL; negative when the fine-tuned model does better. */
  nllIncrease: number;
  threshold: number;
  verdict: 'ok' | 'forgot';
}

/**
 * Scores the same tokens (from the shared tokenizer) with both models. A LoRA run can pass one model twice
 * only by toggling its adapter in between: score it with perplexity() each way and call forgettingVerdict().
 */
export function forgettingCheck(base: LlamaModel, tuned: LlamaModel, tokens: readonly number[], opts: ForgettingOptions = {}): ForgettingResult {
  const ctx = opts.ctx ?? 512;
  const b = perplexity(base, tokens, ctx, (done, total) => opts.onProgress?.('base', done, total));
  const t = perplexity(tuned, tokens, ctx, (done, total) => opts.onProgress?.('tuned', done, total));
  return forgettingVerdict(b, t, opts.threshold);
}

/** The verdict from the two models' perplexities on the same tokens. */
export function forgettingVerdict(base: PerplexityResult, tuned: PerplexityResult, threshold = 0.1): ForgettingResult {
  if (!(threshold >= 0)) throw new Error(`forgetting threshold must be a number ≥ 0, got ${threshold}`);
  if (base.tokens !== tuned.tokens) throw new Error(`forgetting check: base scored ${base.tokens} tokens, fine-tuned ${tuned.tokens}; they must score the same text`);
  const nllIncrease = (tuned.nll - base.nll) / base.nll;
  return { base, tuned, nllIncrease, threshold, verdict: nllIncrease <= threshold ? 'ok' : 'forgot' }; // NaN (a diverged model) is 'forgot'
}

/** One line for the terminal: "forgetting check: NLL 1.40 → 1.52 (+8.6%), threshold +10%: ok". */
export function forgettingSummaryLine(f: ForgettingResult): string {
  const sign = (v: number): string => (v > 0 ? '+' : '');
  const threshold = `${sign(f.threshold)}${Number((f.threshold * 100).toFixed(2))}%`; // 0.1 → "+10%", not "+10.00%"
  return `forgetting check: NLL ${f.base.nll.toFixed(2)} → ${f.tuned.nll.toFixed(2)} (${sign(f.nllIncrease)}${(f.nllIncrease * 100).toFixed(1)}%), threshold ${threshold}: ${f.verdict}`;
}
