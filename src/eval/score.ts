// Scores predictions against a dataset's references with one metric (exact, normalized, sql, scorer): one result object.
import { WhetError } from '../errors.ts';
import type { Example } from '../data/formats.ts';
import { exactMatch, loadScorer, mean, normalizedMatch, scoreAll } from './metrics.ts';
import { databaseFor, executionAccuracy } from './sql.ts';
import { referenceOf } from './predict.ts';

export type TextMetric = 'exact' | 'normalized' | 'sql' | 'scorer';

export interface ScoreOptions {
  /** --metric sql: a .sqlite file, or a folder of Spider-style databases chosen by each example's meta.db_id. */
  db?: string;
  /** --metric scorer: the module whose default export scores one prediction. */
  scorer?: string;
  /** --metric sql: per-query time limit, milliseconds. */
  sqlTimeoutMs?: number;
  onProgress?: (done: number) => void;
}

export interface ScoreResult {
  metric: string;
  /** Mean score over n examples, in [0, 1] for every built-in metric. */
  score: number;
  n: number;
  /** One score per example (examples left out, e.g. SQL dataset errors, get null). */
  perExample: (number | null)[];
  /** Metric-specific counts (SQL: prediction errors, time-outs, dataset errors). */
  details?: Record<string, unknown>;
}

export async function scorePredictions(metric: TextMetric, predictions: readonly string[], examples: readonly Example[], opts: ScoreOptions = {}): Promise<ScoreResult> {
  if (predictions.length !== examples.length) throw new Error(`scorePredictions: ${predictions.length} predictions for ${examples.length} examples`);
  if (metric === 'exact' || metric === 'normalized') {
    const match = metric === 'exact' ? exactMatch : normalizedMatch;
    const scores = predictions.map((p, i) => Number(match(p, referenceOf(examples[i]!, i))));
    opts.onProgress?.(scores.length);
    return { metric, score: mean(scores), n: scores.length, perExample: scores };
  }
  if (metric === 'scorer') {
    if (opts.scorer === undefined) throw new WhetError('--metric scorer needs --scorer MODULE');
    const scorer = await loadScorer<Example>(opts.scorer);
    const scores = await scoreAll(scorer, predictions, examples, opts.onProgress);
    return { metric, score: mean(scores), n: scores.length, perExample: scores };
  }
  if (opts.db === undefined) throw new WhetError('--metric sql needs --db (a .sqlite file, or a folder of <db_id>/<db_id>.sqlite)');
  const db = opts.db;
  const items = examples.map((e, i) => {
    const dbId = e.meta?.db_id;
    return { prediction: predictions[i]!, gold: referenceOf(e, i), db: databaseFor(db, typeof dbId === 'string' ? dbId : undefined, `example ${i + 1}`) };
  });
  const r = await executionAccuracy(items, { timeoutMs: opts.sqlTimeoutMs, onProgress: opts.onProgress });
  return {
    metric,
    score: r.score,
    n: r.n,
    perExample: r.perExample.map((x) => (x.outcome === 'dataset-error' ? null : Number(x.outcome === 'correct'))),
    details: { correct: r.correct, predictionErrors: r.predictionErrors, timeouts: r.timeouts, datasetErrors: r.datasetErrors.length, firstDatasetErrors: r.datasetErrors.slice(0, 5) },
  };
}
