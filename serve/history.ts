/**
 * The warehouse's events before the serving cutoff, held in this process as columns sorted by user and time (the
 * service never holds the worker's warehouse file open): a user's history is a contiguous range found by a map
 * lookup. Strings are stored once each (items, sessions, event types) and referred to by index.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { duckdbOptions, quoteLiteral } from '../warehouse/db';
import type { UserEventsWithSessions } from '../warehouse/feature-user-values';

/** A string column as indexes into its distinct values (-1 = NULL). */
class Dictionary {
  readonly values: string[] = [];
  private readonly index = new Map<string, number>();
  code(v: unknown): number {
    if (v == null) return -1;
    const s = String(v);
    let k = this.index.get(s);
    if (k === undefined) {
      k = this.values.length;
      this.values.push(s);
      this.index.set(s, k);
    }
    return k;
  }
  value(k: number): string | null {
    return k < 0 ? null : this.values[k];
  }
}

export class History {
  private constructor(
    /** user → [start, end) in the columns. */
    private readonly ranges: Map<string, number>,
    private readonly ends: Int32Array,
    private readonly ts: Float64Array,
    private readonly event: Int32Array,
    private readonly item: Int32Array,
    private readonly revenue: Float64Array,
    private readonly session: Int32Array,
    private readonly dict: { event: Dictionary; item: Dictionary; session: Dictionary },
  ) {}

  get users(): number {
    return this.ranges.size;
  }

  /** Reads the warehouse's events before `cutoff`, in user and time order (ties in source order, as the sequences). */
  static async load(warehouse: string, cutoff: Date): Promise<History> {
    const instance = await DuckDBInstance.create(':memory:', { ...duckdbOptions(), threads: '1' });
    const conn = await instance.connect();
    try {
      await conn.run(`SET TimeZone = 'UTC'`);
      await conn.run(`ATTACH ${quoteLiteral(warehouse)} AS wh (READ_ONLY)`);
      const n = Number(
        (
          await conn.runAndReadAll(`SELECT count(*) FROM wh.events WHERE ts < CAST($c AS TIMESTAMP)`, {
            c: cutoff.toISOString(),
          })
        ).getRows()[0][0],
      );
      const cols = {
        ts: new Float64Array(n),
        event: new Int32Array(n),
        item: new Int32Array(n),
        revenue: new Float64Array(n),
        session: new Int32Array(n),
      };
      const dict = { event: new Dictionary(), item: new Dictionary(), session: new Dictionary() };
      const ranges = new Map<string, number>();
      const ends: number[] = [];
      // Microseconds as a DOUBLE: exact (below 2^53) and read without BigInt conversions.
      const res = await conn.stream(
        `SELECT user_id, CAST(epoch_us(ts) AS DOUBLE), event, item_id, revenue, session_id FROM wh.events
         WHERE ts < CAST($c AS TIMESTAMP) ORDER BY user_id, ts, event, source_file, source_line`,
        { c: cutoff.toISOString() },
      );
      let i = 0;
      let last: string | null = null;
      for (let chunk = await res.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await res.fetchChunk()) {
        for (const [u, ts, event, item, revenue, session] of chunk.getRows()) {
          const user = String(u);
          if (user !== last) {
            if (last !== null) ends.push(i);
            ranges.set(user, ends.length);
            last = user;
          }
          cols.ts[i] = Number(ts);
          cols.event[i] = dict.event.code(event);
          cols.item[i] = dict.item.code(item);
          cols.revenue[i] = revenue == null ? NaN : Number(revenue);
          cols.session[i] = dict.session.code(session);
          i++;
        }
      }
      if (last !== null) ends.push(i);
      return new History(
        ranges,
        Int32Array.from(ends),
        cols.ts,
        cols.event,
        cols.item,
        cols.revenue,
        cols.session,
        dict,
      );
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
  }

  /** The user's events before `beforeUs` (microseconds), appended to `out` (a user without history adds none). */
  appendTo(userId: string, beforeUs: number, out: UserEventsWithSessions): void {
    const k = this.ranges.get(userId);
    if (k === undefined) return;
    for (let i = k ? this.ends[k - 1] : 0; i < this.ends[k]; i++) {
      if (this.ts[i] >= beforeUs) continue;
      (out.ts as number[]).push(this.ts[i]);
      out.event.push(this.dict.event.value(this.event[i])!);
      out.item.push(this.dict.item.value(this.item[i]));
      out.revenue.push(Number.isNaN(this.revenue[i]) ? null : this.revenue[i]);
      out.session.push(this.dict.session.value(this.session[i]));
      out.n++;
    }
  }
}
