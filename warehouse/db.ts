import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { memoryBudget } from '../infra/memory';

/**
 * Explicit DuckDB lifecycle, as in duckdb-node-neo's own examples: open, use one connection for one unit of
 * work, close in `finally`. We do not keep the database open between activities, because DuckDB allows one
 * writer process per file and the CLI (`funnelcast extract`, `features`) may open it while no run is active.
 * Inside one process, units of work on the same file share one instance (DuckDB allows one per file per
 * process), counted so the last one out closes it; each still gets its own connection.
 */
const open = new Map<string, { instance: Promise<DuckDBInstance>; users: number }>();

/**
 * DuckDB's memory budget (FUNNELCAST_DUCKDB_MEMORY, default half of the process's FUNNELCAST_MEMORY budget, 2 GiB
 * by default): DuckDB's own default is 80 % of RAM, too much for a process that shares the machine with a Temporal
 * worker training models. Past the budget DuckDB spills to `<database>.tmp` beside the file (and to the system
 * temp folder for :memory:).
 */
export function duckdbOptions(): Record<string, string> {
  return {
    memory_limit:
      process.env.FUNNELCAST_DUCKDB_MEMORY ?? `${Math.max(64, Math.floor(memoryBudget() / 2 / 1024 ** 2))}MiB`,
  };
}

export async function withDuckDB<T>(
  file: string,
  fn: (conn: DuckDBConnection) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  if (file === ':memory:') {
    const instance = await DuckDBInstance.create(':memory:', duckdbOptions());
    const conn = await instance.connect();
    try {
      return await interruptible(conn, fn, signal);
    } finally {
      await release(conn, { everything: true });
      conn.closeSync();
      instance.closeSync();
    }
  }
  mkdirSync(dirname(file), { recursive: true });
  let entry = open.get(file);
  if (!entry) {
    entry = { instance: DuckDBInstance.create(file, duckdbOptions()), users: 0 };
    open.set(file, entry);
  }
  entry.users++;
  try {
    const instance = await entry.instance;
    const conn = await instance.connect();
    try {
      return await interruptible(conn, fn, signal);
    } finally {
      await release(conn, { checkpoint: entry.users === 1 });
      conn.closeSync();
    }
  } finally {
    if (--entry.users === 0) {
      open.delete(file);
      (await entry.instance.catch(() => null))?.closeSync();
    }
  }
}

/**
 * Runs `fn` on `conn` and, once `signal` aborts, interrupts the connection's statement: a cancelled activity stops
 * a long query (a feature table over millions of users runs for a minute) instead of waiting for it. The interrupt
 * is repeated until `fn` settles, because an abort that lands between two statements would otherwise let the next
 * one run to its end; `fn` then throws the signal's reason, not DuckDB's "Interrupted".
 */
async function interruptible<T>(
  conn: DuckDBConnection,
  fn: (conn: DuckDBConnection) => Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (!signal) return fn(conn);
  signal.throwIfAborted();
  let timer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    conn.interrupt();
    timer = setInterval(() => conn.interrupt(), 50);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await fn(conn);
  } catch (e) {
    throw signal.aborted ? signal.reason : e;
  } finally {
    signal.removeEventListener('abort', onAbort);
    clearInterval(timer);
  }
}

/**
 * Frees what a unit of work leaves in DuckDB before the synchronous close: its temp tables and views (every table
 * of an in-memory database with `everything`) are dropped and, for the last user of a database file, the WAL is
 * checkpointed, all as statements that run off the event loop. Left to closeSync they ran on the worker's main
 * thread: 2.0 s after the segments step of a 10 M-event run (a 4.3 M-row temp table), 0.3 s after others (issue
 * 17). Best effort: a connection that cannot run them (interrupted, aborted transaction) is closed as before.
 */
export async function release(
  conn: DuckDBConnection,
  opts: { everything?: boolean; checkpoint?: boolean },
): Promise<void> {
  try {
    const where = opts.everything ? 'NOT internal' : 'temporary AND NOT internal';
    const objects = await conn.runAndReadAll(
      `SELECT 'TABLE', database_name, schema_name, table_name FROM duckdb_tables() WHERE ${where}
       UNION ALL SELECT 'VIEW', database_name, schema_name, view_name FROM duckdb_views() WHERE ${where}`,
    );
    for (const [kind, db, schema, name] of objects.getRows())
      await conn.run(`DROP ${kind} IF EXISTS ${[db, schema, name].map((x) => quoteIdent(String(x))).join('.')}`);
    if (opts.checkpoint) await conn.run('CHECKPOINT');
  } catch {
    // closeSync frees the rest
  }
}

/** Double-quotes an identifier that came from configuration (already validated by the pipeline schema). */
export function quoteIdent(name: string): string {
  if (name.length === 0 || name.length > 128 || /[\u0000-\u001f"]/.test(name)) {
    throw new Error(`refusing identifier ${JSON.stringify(name)}: empty, too long, or holds quotes/control characters`);
  }
  return `"${name}"`;
}

/**
 * A string literal for the few places DuckDB cannot bind a parameter (file paths in COPY … TO and
 * read_csv(…) table functions). Quotes are doubled and control characters refused.
 */
export function quoteLiteral(value: string): string {
  // Tab is allowed (TSV delimiters); other control characters never belong in a path or option.
  if (/[\u0000-\u0008\u000a-\u001f]/.test(value))
    throw new Error(`refusing literal with control characters: ${JSON.stringify(value)}`);
  return `'${value.replace(/'/g, "''")}'`;
}

/** DuckDB rejects bound values the statement does not use: keep only the `$name`s that appear in the SQL. */
export function usedParams<T>(sql: string, params: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(params).filter(([k]) => new RegExp(`\\$${k}(?![A-Za-z0-9_])`).test(sql)));
}

const queues = new Map<string, Promise<unknown>>();

/**
 * Runs fn after every earlier call with the same key has finished (a per-process mutex). Extraction of one
 * warehouse is serialized with it: DuckDB lets two connections append at once, and two runs loading the same
 * new file together would both load it. Across processes, DuckDB's own file lock keeps writers apart.
 */
export function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = queues.get(key) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const tail = next.catch(() => undefined);
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return next;
}

/** The rows of a query's result, all read at once (small results: counts, column lists, dates). */
export async function rows(conn: DuckDBConnection, sql: string, params?: Record<string, string | number>) {
  return (await conn.runAndReadAll(sql, params)).getRows();
}
