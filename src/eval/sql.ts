// SQL execution accuracy (Spider's "EX"): run the predicted and the gold query on the example's database and
// compare result sets, as ordered lists when the gold query orders its result, else as multisets of rows.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { WhetError } from '../errors.ts';
import { hasTopLevelOrderBy, sameResult } from './sql-compare.ts';
import { SqlExecutor, type SqlExecutorOptions } from './sql-executor.ts';

export interface SqlItem {
  prediction: string;
  gold: string;
  /** Path of the SQLite file both queries run on. */
  db: string;
}

export type SqlOutcome = 'correct' | 'wrong' | 'prediction-error' | 'timeout' | 'dataset-error';

export interface SqlExampleResult {
  outcome: SqlOutcome;
  /** The failing query's error message (prediction-error, timeout, dataset-error). */
  error?: string;
}

export interface SqlAccuracy {
  /** correct / n. */
  score: number;
  /** Examples scored: all but those whose gold query failed. */
  n: number;
  correct: number;
  /** Predictions that failed to run (syntax, missing table, too many rows), time-outs not included. */
  predictionErrors: number;
  /** Predictions stopped by the time limit (also wrong). */
  timeouts: number;
  /** Examples left out because their gold query failed: a problem with the data, not the model. */
  datasetErrors: { index: number; error: string }[];
  perExample: SqlExampleResult[];
}

/** Scores each prediction against its gold query; examples are run in order, one query at a time. */
export async function executionAccuracy(items: readonly SqlItem[], opts: SqlExecutorOptions & { onProgress?: (done: number) => void } = {}): Promise<SqlAccuracy> {
  const exec = new SqlExecutor(opts);
  const perExample: SqlExampleResult[] = [];
  try {
    for (const item of items) {
      perExample.push(await scoreSqlItem(exec, item));
      opts.onProgress?.(perExample.length);
    }
  } finally {
    exec.close();
  }
  const count = (o: SqlOutcome): number => perExample.filter((r) => r.outcome === o).length;
  const datasetErrors = perExample.flatMap((r, index) => (r.outcome === 'dataset-error' ? [{ index, error: r.error! }] : []));
  const n = items.length - datasetErrors.length;
  const correct = count('correct');
  return { score: n === 0 ? NaN : correct / n, n, correct, predictionErrors: count('prediction-error'), timeouts: count('timeout'), datasetErrors, perExample };
}

/** One example's outcome: the gold query first (its failure is the data's), then the prediction, then the comparison. */
export async function scoreSqlItem(exec: SqlExecutor, item: SqlItem): Promise<SqlExampleResult> {
  if (!existsSync(item.db)) return { outcome: 'dataset-error', error: `${item.db}: no such database` };
  const gold = await exec.run(item.db, item.gold);
  if (!gold.ok) return { outcome: 'dataset-error', error: `gold query failed: ${gold.error}` };
  if (item.prediction.trim() === '') return { outcome: 'prediction-error', error: 'empty query' };
  const pred = await exec.run(item.db, item.prediction);
  if (!pred.ok) return 'timeout' in pred ? { outcome: 'timeout', error: pred.error } : { outcome: 'prediction-error', error: pred.error };
  return { outcome: sameResult(gold.rows, pred.rows, hasTopLevelOrderBy(item.gold)) ? 'correct' : 'wrong' };
}

/**
 * The database an example runs on: `db` itself when it is a file, else Spider's layout under the folder
 * `db` — `<db>/<db_id>/<db_id>.sqlite`, or `<db>/database/<db_id>/<db_id>.sqlite` given Spider's root.
 */
export function databaseFor(db: string, dbId: string | undefined, where: string): string {
  if (!existsSync(db)) throw new WhetError(`${db}: no such database file or folder`);
  if (!statSync(db).isDirectory()) return db;
  if (dbId === undefined || dbId === '') throw new WhetError(`${where}: no db_id, which --db ${db} (a folder of databases) needs to pick the database`);
  if (!/^[\w.-]+$/.test(dbId) || dbId.startsWith('.')) throw new WhetError(`${where}: db_id '${dbId}' is not a plain name`);
  const direct = join(db, dbId, `${dbId}.sqlite`);
  const nested = join(db, 'database', dbId, `${dbId}.sqlite`);
  return existsSync(direct) || !existsSync(nested) ? direct : nested;
}
