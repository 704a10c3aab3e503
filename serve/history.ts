/**
 * The warehouse's events before the serving cutoff, held in this process as columns sorted by user and time (the
 * service never holds the worker's warehouse file open): a user's history is a contiguous range found by a binary
 * search over the user ids. Few JavaScript objects for every full GC to mark: the ids are one buffer; items,
 * sessions and event types are indexes into their distinct values, themselves packed in a buffer (not a Map of 1 M
 * ids and 1.4 M session strings; the serve bench's longest GC pause stayed ≤ 100 ms either way: the GET lists'
 * objects remain).
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { duckdbOptions, quoteLiteral } from '../warehouse/db';
import { customerAttributeColumns } from '../warehouse/attributes';
import type { PipelineDefinition } from '../pipelines/schema';
import type { Expr } from '../warehouse/feature-expr';
import type { UserEventsWithSessions } from '../warehouse/feature-user-values';

/**
 * A string column as indexes into its distinct values (-1 = NULL). Packed once loaded: the values become one buffer
 * and their offsets, and the lookup map goes (1.4 M session ids as strings were 1.4 M objects for every full GC).
 */
class Dictionary {
  private values: string[] = [];
  private index: Map<string, number> | null = new Map();
  private packed: { buf: Buffer; offsets: Int32Array } | null = null;
  code(v: unknown): number {
    if (v == null) return -1;
    const s = String(v);
    let k = this.index!.get(s);
    if (k === undefined) {
      k = this.values.length;
      this.values.push(s);
      this.index!.set(s, k);
    }
    return k;
  }
  pack(): this {
    const parts = this.values.map((v) => Buffer.from(v));
    const offsets = new Int32Array(parts.length + 1);
    parts.forEach((b, k) => (offsets[k + 1] = offsets[k] + b.length));
    this.packed = { buf: Buffer.concat(parts), offsets };
    this.values = [];
    this.index = null;
    return this;
  }
  value(k: number): string | null {
    if (k < 0) return null;
    if (!this.packed) return this.values[k];
    return this.packed.buf.toString('utf8', this.packed.offsets[k], this.packed.offsets[k + 1]);
  }
}

export class History {
  private constructor(
    /** The user ids in ascending byte order, concatenated (UTF-8), and where each starts (one more: the end). */
    private readonly ids: Buffer,
    private readonly idStarts: Int32Array,
    /** The end of user k's events in the columns (its start is the end of user k − 1). */
    private readonly ends: Int32Array,
    private readonly ts: Float64Array,
    private readonly event: Int32Array,
    private readonly item: Int32Array,
    private readonly revenue: Float64Array,
    private readonly session: Int32Array,
    private readonly dict: { event: Dictionary; item: Dictionary; session: Dictionary },
    private readonly customers: Map<string, CustomerRow[]>,
    /** The customer-attribute features, declared at the cutoff as the batch path declares them. */
    readonly attributeDefs: { name: string; expr: Expr }[],
  ) {}

  get users(): number {
    return this.ends.length;
  }

  /** The index of the user, or -1. */
  private find(userId: string): number {
    const key = Buffer.from(userId);
    let lo = 0;
    let hi = this.ends.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = this.ids.compare(key, 0, key.length, this.idStarts[mid], this.idStarts[mid + 1]);
      if (c === 0) return mid;
      if (c > 0) hi = mid - 1;
      else lo = mid + 1;
    }
    return -1;
  }

  /** Reads the warehouse's events before `cutoff` (and its customers, when the pipeline has them). */
  static async load(warehouse: string, cutoff: Date, def: PipelineDefinition): Promise<History> {
    const instance = await DuckDBInstance.create(':memory:', { ...duckdbOptions(), threads: '1' });
    const conn = await instance.connect();
    try {
      await conn.run(`SET TimeZone = 'UTC'`);
      await conn.run(`ATTACH ${quoteLiteral(warehouse)} AS wh (READ_ONLY)`);
      const e = await readEvents(conn, cutoff);
      const { customers, attributeDefs } = await loadCustomers(conn, def, cutoff);
      return new History(
        e.ids,
        e.idStarts,
        Int32Array.from(e.ends),
        e.cols.ts,
        e.cols.event,
        e.cols.item,
        e.cols.revenue,
        e.cols.session,
        e.dict,
        customers,
        attributeDefs,
      );
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
  }

  /**
   * The user's customer attributes as of `asOfMs`, as customers_at picks them (warehouse/attributes.ts): the latest
   * row valid before it (rows without a date last, then the last source line); null without one.
   */
  attributesAt(userId: string, asOfMs: number): Record<string, unknown> | null {
    const row = this.customers.get(userId)?.find((r) => r.validFromUs === null || r.validFromUs < asOfMs * 1000);
    if (!row) return null;
    row.parsed ??= (JSON.parse(row.attributes) as Record<string, unknown> | null) ?? {};
    return row.parsed;
  }

  /** The user's events before `beforeUs` (microseconds), appended to `out` (a user without history adds none). */
  appendTo(userId: string, beforeUs: number, out: UserEventsWithSessions): void {
    const k = this.find(userId);
    if (k < 0) return;
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

interface CustomerRow {
  validFromUs: number | null;
  attributes: string;
  parsed?: Record<string, unknown>;
}

/** The customers table (when the pipeline has one), per user in customers_at's order, and its attribute features. */
async function loadCustomers(
  conn: Connection,
  def: PipelineDefinition,
  cutoff: Date,
): Promise<{ customers: Map<string, CustomerRow[]>; attributeDefs: { name: string; expr: Expr }[] }> {
  const customers = new Map<string, CustomerRow[]>();
  if (!def.sources.customers) return { customers, attributeDefs: [] };
  await conn.run(`CREATE TABLE customers AS SELECT * FROM wh.customers`);
  const { defs } = await customerAttributeColumns(conn, def, cutoff.toISOString(), {});
  const res = await conn.runAndReadAll(
    `SELECT user_id, CAST(epoch_us(valid_from) AS DOUBLE), CAST(attributes AS VARCHAR) FROM customers
     ORDER BY user_id, valid_from DESC NULLS LAST, source_file DESC, source_line DESC`,
  );
  for (const [u, v, a] of res.getRows()) {
    const list = customers.get(String(u)) ?? [];
    list.push({ validFromUs: v == null ? null : Number(v), attributes: a == null ? 'null' : String(a) });
    customers.set(String(u), list);
  }
  await conn.run(`DROP TABLE customers_at`);
  return { customers, attributeDefs: defs };
}

type Connection = Awaited<ReturnType<DuckDBInstance['connect']>>;

/** The events before `cutoff` in user and time order (ties in source order, as the sequences), as columns. */
async function readEvents(conn: Connection, cutoff: Date) {
  const c = cutoff.toISOString();
  const n = Number(
    (
      await conn.runAndReadAll(`SELECT count(*) FROM wh.events WHERE ts < CAST($c AS TIMESTAMP)`, { c })
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
  const ids: Buffer[] = [];
  const ends: number[] = [];
  // Microseconds as a DOUBLE: exact (below 2^53) and read without BigInt conversions.
  const res = await conn.stream(
    `SELECT user_id, CAST(epoch_us(ts) AS DOUBLE), event, item_id, revenue, session_id FROM wh.events
     WHERE ts < CAST($c AS TIMESTAMP) ORDER BY user_id, ts, event, source_file, source_line`,
    { c },
  );
  let i = 0;
  let last: Buffer | null = null;
  for (let chunk = await res.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await res.fetchChunk()) {
    for (const [u, ts, event, item, revenue, session] of chunk.getRows()) {
      const user = Buffer.from(String(u));
      if (last === null || !user.equals(last)) {
        // The binary search needs byte order; DuckDB sorts VARCHAR so, checked rather than assumed.
        if (last !== null && Buffer.compare(last, user) >= 0) throw new Error('history: user ids out of byte order');
        if (last !== null) ends.push(i);
        ids.push(user);
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
  const idStarts = new Int32Array(ids.length + 1);
  ids.forEach((b, k) => (idStarts[k + 1] = idStarts[k] + b.length));
  dict.item.pack();
  dict.session.pack();
  return { cols, dict, ids: Buffer.concat(ids), idStarts, ends };
}
