// Generation metrics: exact match, SQuAD-style normalised match, and user scorer modules (mean of a per-example score).
import { WhetError } from '../errors.ts';
import { loadDefaultFunction } from './user-module.ts';

/** Equal after dropping trailing whitespace (a generated answer often ends in a newline the reference lacks). */
export function exactMatch(prediction: string, reference: string): boolean {
  return prediction.trimEnd() === reference.trimEnd();
}

// SQuAD strips Python's string.punctuation (ASCII punctuation and symbols); Unicode punctuation (“ ” — …) goes too.
const PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~\p{P}]/gu;
// Word boundaries that know non-ASCII letters (JS's \b would split 'ñthe').
const ARTICLES = /(?<![\p{L}\p{N}_])(a|an|the)(?![\p{L}\p{N}_])/gu;

/** SQuAD's normalize_answer after Unicode NFKC: lowercase, no punctuation, no articles a/an/the, single spaces. */
export function normalizeAnswer(s: string): string {
  return s.normalize('NFKC').toLowerCase().replace(PUNCTUATION, '').replace(ARTICLES, ' ').split(/\s+/u).filter((w) => w !== '').join(' ');
}

export function normalizedMatch(prediction: string, reference: string): boolean {
  return normalizeAnswer(prediction) === normalizeAnswer(reference);
}

/** A user scorer: 1/true for a right answer, 0/false for a wrong one, or any number in between. */
export type Scorer<E = unknown> = (prediction: string, example: E) => number | boolean | Promise<number | boolean>;

/** Imports a scorer module (.js/.mjs/.cjs, or .ts/.mts/.cts through tsx) and returns its default export. */
export async function loadScorer<E = unknown>(path: string): Promise<Scorer<E>> {
  return (await loadDefaultFunction(path, 'scorer', '(prediction, example) => number | boolean')) as Scorer<E>;
}

/** Scores every prediction with the scorer (one at a time, in order) and checks each score is a finite number or a boolean. */
export async function scoreAll<E>(scorer: Scorer<E>, predictions: readonly string[], examples: readonly E[], onProgress?: (done: number) => void): Promise<number[]> {
  if (predictions.length !== examples.length) throw new Error(`scoreAll: ${predictions.length} predictions for ${examples.length} examples`);
  const scores: number[] = [];
  for (let i = 0; i < predictions.length; i++) {
    let raw: unknown;
    try {
      raw = await scorer(predictions[i]!, examples[i]!);
    } catch (e) {
      throw new WhetError(`scorer failed on example ${i + 1}: ${(e as Error).message}`);
    }
    const score = typeof raw === 'boolean' ? Number(raw) : raw;
    if (typeof score !== 'number' || !Number.isFinite(score)) throw new WhetError(`scorer returned ${typeof raw === 'number' ? raw : typeof raw} for example ${i + 1}; it must return a finite number or a boolean`);
    scores.push(score);
    onProgress?.(i + 1);
  }
  return scores;
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}
