/**
 * Online features: a user's warehouse history (events before the serving cutoff, copied into this process's own
 * in-memory DuckDB at load, so the service never holds the worker's warehouse file open) plus the recent events a
 * request sends, run through the batch path's feature SQL (warehouse/features.ts createFeatureTable) at the
 * request's as-of time. One definition of every feature: online and batch scores agree exactly.
 *
 * Requests that arrive together are computed in one statement batch (one GROUP BY over all their users): DuckDB's
 * cost is per statement, not per user, so micro-batching is what makes hundreds of requests per second possible.
 */
import { DuckDBInstance, DuckDBTimestampValue, type DuckDBConnection } from '@duckdb/node-api';
import { createFeatureTable } from '../warehouse/features';
import { duckdbOptions, quoteIdent, quoteLiteral } from '../warehouse/db';
import type { PipelineDefinition } from '../pipelines/schema';
import type { FeatureMatrix } from '../ml/classifier';

export interface RecentEvent {
  ts: number;
  event: string;
  itemId?: string | null;
  revenue?: number | null;
  sessionId?: string | null;
}

export interface OnlineRequest {
  userId: string;
  events: RecentEvent[];
  /** The time the features are computed at (ms): only events before it count. */
  asOf: number;
}

const COLUMNS = `user_id VARCHAR, ts TIMESTAMP, event VARCHAR, item_id VARCHAR, revenue DOUBLE, session_id VARCHAR, source_file VARCHAR, source_line BIGINT`;

/**
 * A batch's history: its users as an IN list of bound values, which DuckDB answers from the index on the user (an
 * IN over a subquery or a join scans the whole table instead).
 */
const historySql = (n: number) =>
  `SELECT * FROM hist WHERE user_id IN (${Array.from({ length: n }, (_, k) => `$u${k}`).join(', ')})`;
const userParams = (ids: string[]) => Object.fromEntries(ids.map((u, k) => [`u${k}`, u]));

export class OnlineFeatures {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly def: PipelineDefinition,
    readonly eventTypes: string[],
    readonly featureNames: string[],
    readonly historyUsers: number,
  ) {}

  /**
   * Copies the warehouse's events before `cutoff` (and its customers, when the pipeline has them) into memory,
   * sorted by user so a request's history is a zone-map lookup.
   */
  static async open(opts: {
    warehouse: string;
    def: PipelineDefinition;
    cutoff: Date;
    eventTypes: string[];
    featureNames: string[];
  }): Promise<OnlineFeatures> {
    // One thread: a request's batch is a few hundred rows, where DuckDB's per-query thread start-up costs more
    // than it saves (and the worker's training shares the cores).
    const instance = await DuckDBInstance.create(':memory:', { ...duckdbOptions(), threads: '1' });
    const conn = await instance.connect();
    try {
      await conn.run(`SET TimeZone = 'UTC'`);
      await conn.run(`ATTACH ${quoteLiteral(opts.warehouse)} AS wh (READ_ONLY)`);
      await conn.run(
        `CREATE TABLE hist AS SELECT user_id, ts, event, item_id, revenue, session_id, source_file, source_line
         FROM wh.events WHERE ts < CAST($c AS TIMESTAMP) ORDER BY user_id, ts`,
        { c: opts.cutoff.toISOString() },
      );
      if (opts.def.sources.customers) await conn.run(`CREATE TABLE customers AS SELECT * FROM wh.customers`);
      await conn.run(`DETACH wh`);
      // An ART index on the user: a batch's history is then an index lookup per user. Without it every batch
      // scanned the whole history (2.3 M rows for 1 M users: ~130 ms of CPU per batch, measured).
      await conn.run(`CREATE INDEX hist_user ON hist (user_id)`);
      await conn.run(`CREATE TABLE batch_events (${COLUMNS})`);
      const users = Number((await conn.runAndReadAll(`SELECT count(DISTINCT user_id) FROM hist`)).getRows()[0][0]);
      return new OnlineFeatures(instance, conn, opts.def, opts.eventTypes, opts.featureNames, users);
    } catch (e) {
      conn.closeSync();
      instance.closeSync();
      throw e;
    }
  }

  /**
   * The feature rows of requests that share one as-of time and name distinct users, in request order; a user
   * with no events at all before as-of gets no row (null).
   */
  async compute(reqs: OnlineRequest[], asOf: number): Promise<{ x: FeatureMatrix; rowOf: (number | null)[] }> {
    return this.serial(async () => {
      const conn = this.conn;
      // The batch's events: the requests' recent events, then the history of their users. One table emptied and
      // refilled (not replaced) per batch: each statement of a batch costs milliseconds whatever its rows.
      await conn.run(`DELETE FROM batch_events`);
      const ev = await conn.createAppender('batch_events');
      reqs.forEach((r, k) => r.events.forEach((e, i) => appendEvent(ev, r.userId, e, k, i)));
      ev.closeSync();
      await conn.run(`INSERT INTO batch_events ${historySql(reqs.length)}`, userParams(reqs.map((r) => r.userId)));
      await createFeatureTable(conn, this.def, {
        cutoff: new Date(asOf),
        eventsTable: 'batch_events',
        eventTypes: this.eventTypes,
        withLabel: false,
      });
      const cols = this.featureNames.map((n) => quoteIdent(n)).join(', ');
      const res = await conn.runAndReadAll(`SELECT user_id, ${cols} FROM features_out`);
      const rows = res.getRows();
      const index = new Map(rows.map((r, i) => [String(r[0]), i]));
      const x: FeatureMatrix = {
        nRows: rows.length,
        names: this.featureNames,
        columns: this.featureNames.map((_, j) =>
          Float32Array.from(rows, (r) => (r[j + 1] == null ? NaN : Number(r[j + 1]))),
        ),
      };
      return { x, rowOf: reqs.map((r) => index.get(r.userId) ?? null) };
    });
  }

  /** How DuckDB ran a batch's history lookup (EXPLAIN ANALYZE): an index scan, not a scan of the whole history. */
  async historyPlan(userIds: string[]): Promise<string> {
    return this.serial(async () =>
      (await this.conn.runAndReadAll(`EXPLAIN ANALYZE ${historySql(userIds.length)}`, userParams(userIds)))
        .getRows()
        .map((r) => String(r[1]))
        .join('\n'),
    );
  }

  /** One statement sequence at a time on the one connection (DuckDB's rule). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    void this.queue.finally(() => {
      this.conn.closeSync();
      this.instance.closeSync();
    });
  }
}

function appendEvent(
  a: Awaited<ReturnType<DuckDBConnection['createAppender']>>,
  userId: string,
  e: RecentEvent,
  request: number,
  i: number,
) {
  a.appendVarchar(userId);
  a.appendTimestamp(new DuckDBTimestampValue(BigInt(Math.round(e.ts)) * 1000n));
  a.appendVarchar(e.event);
  if (e.itemId == null) a.appendNull();
  else a.appendVarchar(e.itemId);
  if (e.revenue == null) a.appendNull();
  else a.appendDouble(e.revenue);
  if (e.sessionId == null) a.appendNull();
  else a.appendVarchar(e.sessionId);
  a.appendVarchar(`request:${request}`);
  a.appendBigInt(BigInt(i));
  a.endRow();
}
