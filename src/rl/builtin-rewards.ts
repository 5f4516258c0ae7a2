// Built-in rewards: exact and normalised match against the row's gold answer, a regex format check, and SQL execution
// match through eval's executor (same query process, time limit and result comparison as `whet eval --metric sql`).
import { existsSync, statSync } from 'node:fs';
import { WhetError } from '../errors.ts';
import { normalizedMatch } from '../eval/metrics.ts';
import { SqlExecutor } from '../eval/sql-executor.ts';
import { databaseFor, scoreSqlItem } from '../eval/sql.ts';
import type { RewardFn } from './combine.ts';
import { extractSql } from './sql-answer.ts';

/** Where a row keeps its gold answer, first present field first. */
export const ANSWER_FIELDS = ['answer', 'completion'];
/** Spider rows keep the gold SQL in `query`. */
export const QUERY_FIELDS = ['query', 'answer', 'completion'];

/** The row's gold answer: the first of fields it has (a number counts, as its decimal text). */
export function goldAnswer(example: Record<string, unknown>, fields: readonly string[]): string {
  for (const f of fields) {
    const v = example[f];
    if (typeof v === 'string') return v;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    if (v !== undefined && v !== null) throw new WhetError(`the row's '${f}' field is ${Array.isArray(v) ? 'an array' : typeof v}, not a string`);
  }
  throw new WhetError(`the row has no ${fields.map((f) => `'${f}'`).join(' or ')} field to compare with`);
}

/** 1 when the completion, trimmed, is the gold answer, trimmed. */
export function exactReward(fields: readonly string[] = ANSWER_FIELDS): RewardFn {
  return (_prompt, completion, example) => Number(completion.trim() === goldAnswer(example, fields).trim());
}

/** 1 when they match after SQuAD normalisation (case, punctuation, articles, spacing), as `whet eval --metric normalized`. */
export function normalizedReward(fields: readonly string[] = ANSWER_FIELDS): RewardFn {
  return (_prompt, completion, example) => Number(normalizedMatch(completion, goldAnswer(example, fields)));
}

/** 1 when the completion matches the pattern anywhere (anchor it with ^…$ to check the whole format). */
export function regexReward(pattern: RegExp): RewardFn {
  // A g or y flag would make test() carry lastIndex from one completion to the next.
  if (pattern.global || pattern.sticky) throw new WhetError(`regex /${pattern.source}/${pattern.flags}: the g and y flags make no sense for a match test`);
  return (_prompt, completion) => Number(pattern.test(completion));
}

export interface SqlRewardOptions {
  /** A .sqlite file, or a folder of Spider databases (<db_id>/<db_id>.sqlite, or Spider's root with database/). */
  db: string;
  /** Per-query time limit, milliseconds (eval's default: 10 000). */
  timeoutMs?: number;
  goldFields?: readonly string[];
}

/**
 * 1 when the completion's first SQL statement returns the gold query's rows on the row's database (ordered when the
 * gold query orders them); a wrong, failing or timed-out query scores 0. A gold query that fails is the data's fault: an error.
 */
export function sqlReward(opts: SqlRewardOptions): { fn: RewardFn; close: () => void } {
  const { db, goldFields = QUERY_FIELDS } = opts;
  if (!existsSync(db)) throw new WhetError(`${db}: no such database file or folder`);
  const folder = statSync(db).isDirectory();
  // Started on the first call, so that parsing a spec starts no process.
  let exec: SqlExecutor | undefined;
  const fn: RewardFn = async (_prompt, completion, example) => {
    const dbId = example.db_id;
    if (folder && typeof dbId !== 'string') throw new WhetError(`the row has no string 'db_id' field to pick its database in ${db}`);
    const item = { prediction: extractSql(completion), gold: goldAnswer(example, goldFields), db: databaseFor(db, dbId as string | undefined, 'the row') };
    exec ??= new SqlExecutor({ timeoutMs: opts.timeoutMs });
    const r = await scoreSqlItem(exec, item);
    if (r.outcome === 'dataset-error') throw new WhetError(r.error!);
    return Number(r.outcome === 'correct');
  };
  return { fn, close: () => exec?.close() };
}
