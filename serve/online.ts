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
      await conn.run(`CREATE TABLE req_new (${COLUMNS})`);
      await conn.run(`CREATE TABLE req_ids (user_id VARCHAR)`);
      const users = Number((await conn.runAndReadAll(`SELECT count(DISTINCT user_id) FROM hist`)).getRows()[0][0]);
      return new OnlineFeatures(instance, conn, opts.def, opts.eventTypes, opts.featureNames, users);
    } catch (e) {
      conn.closeSync();
      instance.closeSync();
      throw e;
    }
  }

  /** Whether the user has history before the cutoff. */
  async hasHistory(userId: string): Promise<boolean> {
    return this.serial(async () => {
      const r = await this.conn.runAndReadAll(`SELECT count(*) FROM hist WHERE user_id = $u`, { u: userId });
      return Number(r.getRows()[0][0]) > 0;
    });
  }

  /**
   * The feature rows of requests that share one as-of time and name distinct users, in request order; a user
   * with no events at all before as-of gets no row (null).
   */
  async compute(reqs: OnlineRequest[], asOf: number): Promise<{ x: FeatureMatrix; rowOf: (number | null)[] }> {
    return this.serial(async () => {
      const conn = this.conn;
      await conn.run(`DELETE FROM req_new`);
      await conn.run(`DELETE FROM req_ids`);
      const ids = await conn.createAppender('req_ids');
      const ev = await conn.createAppender('req_new');
      reqs.forEach((r, k) => {
        ids.appendVarchar(r.userId);
        ids.endRow();
        r.events.forEach((e, i) => appendEvent(ev, r.userId, e, k, i));
      });
      ids.closeSync();
      ev.closeSync();
      await conn.run(
        `CREATE OR REPLACE TABLE batch_events AS
         SELECT * FROM hist WHERE user_id IN (SELECT user_id FROM req_ids) UNION ALL SELECT * FROM req_new`,
      );
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
