// Runs SQL queries in a child process with a per-query time limit: a query past it is stopped by killing the
// process, which is then replaced for the next query.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WhetError } from '../errors.ts';
import type { QueryReply, QueryRequest } from './sql-worker.ts';

export type QueryResult = QueryReply | { ok: false; error: string; timeout: true };

export interface SqlExecutorOptions {
  /** Per-query wall-clock limit, milliseconds. Default 10 000. */
  timeoutMs?: number;
  /** A query returning more rows fails. Default 100 000. */
  maxRows?: number;
}

// The worker beside this module: compiled JavaScript in the package, TypeScript (through tsx) in a checkout's tests.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER = fileURLToPath(new URL(FROM_SOURCE ? './sql-worker.ts' : './sql-worker.js', import.meta.url));

export class SqlExecutor {
  private child: ChildProcess | undefined;
  private ready: Promise<ChildProcess | undefined> | undefined;
  private readonly timeoutMs: number;
  private readonly maxRows: number;
  /** Settles when the last query handed to run() has; the next one starts after it. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: SqlExecutorOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxRows = opts.maxRows ?? 100_000;
  }

  /**
   * Runs one query on a database opened read-only; errors (syntax, missing table, time limit) come back as results.
   * Concurrent calls wait their turn: the one process runs one query at a time, and a reply carries nothing to match
   * it to its query. Each query's time limit starts when it is sent, not while it waits.
   */
  run(db: string, sql: string): Promise<QueryResult> {
    const turn = this.queue.then(() => this.runNow(db, sql));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async runNow(db: string, sql: string): Promise<QueryResult> {
    const child = await this.spawn();
    if (child === undefined) throw new WhetError('the SQL query process failed to start (is better-sqlite3 installed? `npm install` builds it)');
    return new Promise((resolve) => {
      const settle = (r: QueryResult): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        idle(child);
        resolve(r);
      };
      const onMessage = (reply: QueryReply): void => settle(reply);
      const onExit = (code: number | null, signal: string | null): void => {
        this.child = undefined;
        settle({ ok: false, error: `the query process died (${signal ?? `exit code ${code}`})` });
      };
      const timer = setTimeout(() => {
        child.off('exit', onExit);
        this.kill();
        settle({ ok: false, error: `timed out after ${this.timeoutMs} ms`, timeout: true });
      }, this.timeoutMs);
      child.on('message', onMessage);
      child.on('exit', onExit);
      busy(child);
      child.send({ db, sql, maxRows: this.maxRows } satisfies QueryRequest);
    });
  }

  /** Stops the child process; the executor can still be used (a new one starts). */
  close(): void {
    this.kill();
  }

  /** The running child, started if need be; resolves once it is ready (undefined if it died first). */
  private spawn(): Promise<ChildProcess | undefined> {
    if (this.child === undefined) {
      // Our own execArgv: the parent's may carry flags (--test, --inspect) that must not reach the child.
      const child = fork(WORKER, [], { execArgv: FROM_SOURCE ? ['--import', import.meta.resolve('tsx')] : [], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      this.child = child;
      this.ready = new Promise((resolve) => {
        child.once('message', () => {
          child.off('exit', died);
          idle(child);
          resolve(child);
        });
        const died = (): void => {
          if (this.child === child) this.child = undefined;
          resolve(undefined);
        };
        child.once('exit', died);
      });
    }
    return this.ready!;
  }

  private kill(): void {
    const child = this.child;
    this.child = undefined;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

// A child that is not running a query must not keep the parent's event loop (and so the process) alive.
function idle(child: ChildProcess): void {
  child.unref();
  child.channel?.unref();
}

function busy(child: ChildProcess): void {
  child.ref();
  child.channel?.ref();
}
