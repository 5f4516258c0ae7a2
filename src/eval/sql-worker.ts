// Child process that runs SQL queries for sql-executor.ts: a process, not a worker thread, so that a runaway
// query can be killed (better-sqlite3 is synchronous and cannot be interrupted; a stuck thread cannot be stopped).
import Database from 'better-sqlite3';
import { rowKey } from './sql-compare.ts';

export interface QueryRequest {
  db: string;
  sql: string;
  /** More rows than this is an error (a cross join must not exhaust memory before the time limit). */
  maxRows: number;
}

export type QueryReply = { ok: true; rows: string[] } | { ok: false; error: string };

const open = new Map<string, Database.Database>();

function database(path: string): Database.Database {
  let db = open.get(path);
  if (db === undefined) {
    db = new Database(path, { readonly: true, fileMustExist: true });
    open.set(path, db);
  }
  return db;
}

// better-sqlite3 builds SQLite with SQLITE_DQS=0, so "text" is always a name; Spider's queries (and Python's sqlite3,
// which they were written against) rely on SQLite's legacy rule that a double-quoted word naming no column is a string.
const DQS_ERROR = /^no such column: "(.*)" - should this be a string literal in single-quotes\?$/s;

/** Prepares sql, turning each double-quoted word SQLite reports as naming no column into a string literal. */
function prepare(db: Database.Database, sql: string): Database.Statement {
  for (let attempt = 0; ; attempt++) {
    try {
      return db.prepare(sql);
    } catch (e) {
      const m = DQS_ERROR.exec((e as Error).message);
      const fixed = m === null || attempt >= 100 ? sql : asStringLiteral(sql, m[1]!);
      if (fixed === sql) throw e;
      sql = fixed;
    }
  }
}

/** Replaces "word" by 'word' wherever it stands outside single-quoted literals. */
function asStringLiteral(sql: string, word: string): string {
  const quoted = `"${word.replaceAll('"', '""')}"`;
  const literal = `'${word.replaceAll("'", "''")}'`;
  // Split on single-quoted literals (odd pieces) so that text inside them is left alone.
  return sql.split(/('(?:[^']|'')*')/).map((piece, i) => (i % 2 === 1 ? piece : piece.replaceAll(quoted, literal))).join('');
}

function run(req: QueryRequest): QueryReply {
  try {
    const stmt = prepare(database(req.db), req.sql);
    if (!stmt.reader) return { ok: false, error: 'the statement returns no rows' };
    const rows: string[] = [];
    for (const row of stmt.raw(true).iterate() as IterableIterator<unknown[]>) {
      if (rows.length === req.maxRows) return { ok: false, error: `more than ${req.maxRows} rows` };
      rows.push(rowKey(row));
    }
    return { ok: true, rows };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

process.on('message', (req: QueryRequest) => process.send!(run(req)));
// Tells the parent that start-up (seconds under load) is over, so the time limit only counts the queries.
process.send!('ready');
// The parent going away (or killing us) must not leave this process behind.
process.on('disconnect', () => process.exit(0));
