/**
 * The definition of a feature as data: an expression over a user's events before the cutoff T and over the
 * per-user values of the RFM, session and funnel tables. It has two compilations: `toSql` renders the exact SQL the
 * batch path runs (warehouse/features.ts), `evaluate` computes the same value in memory for one user's events
 * (online scoring, serve/online.ts). A feature is declared once (warehouse/feature-columns.ts); neither compilation
 * knows any feature by name. The online test (test/unit/serve/online.test.ts) and the serve test (1,000 users to
 * 1e-9) hold the two compilations to each other.
 */
import { DAY_MS } from './cutoffs';
import { quoteLiteral } from './db';

/** A condition on one event (combined with AND). */
export type Pred =
  | { p: 'event'; type: string }
  /** The event is in the window [T − ms, T). */
  | { p: 'within'; ms: number }
  /** The event's UTC hour is in [from, to). */
  | { p: 'hour'; from: number; to: number }
  /** The event is on a Saturday or a Sunday (UTC). */
  | { p: 'weekend' };

/** A per-user value beside the aggregates: the RFM (r), session (s) and funnel (fu) tables, or an aggregate (a). */
export type UserRef =
  | 'r.purchase_days'
  | 'r.recency_days'
  | 'r.t_days'
  | 'r.repeat_value'
  | 's.n_sessions'
  | 'fu.stage'
  | 'a.tenure_days'
  | 'a.n_events_total';

export type Expr =
  /** How many events match (all events without conditions). */
  | { op: 'count'; where: Pred[] }
  /** The latest / earliest event time among those that match (NULL when none). */
  | { op: 'maxTs' | 'minTs'; where: Pred[] }
  /** Days from a time to the cutoff, fractional (NULL when the time is). */
  | { op: 'daysToCutoff'; of: Expr }
  /** The sum of the events' revenue (NULL when none has one). */
  | { op: 'sumRevenue' }
  /** How many distinct items, or distinct UTC days, among the events. */
  | { op: 'countDistinct'; key: 'item' | 'day' }
  /** The share of events that match. */
  | { op: 'share'; when: Pred[] }
  | { op: 'ref'; ref: UserRef }
  | { op: 'num'; value: number }
  | { op: '+' | '-' | '/'; a: Expr; b: Expr }
  | { op: 'coalesce' | 'greatest'; a: Expr; b: Expr }
  /** A customer attribute as of the cutoff (the customers_at row, alias c): its number, or whether it equals `value`. */
  | { op: 'attrNumber'; key: string }
  | { op: 'attrIs'; key: string; value: string };

// Builders: the feature declarations read as formulas.
export const count = (...where: Pred[]): Expr => ({ op: 'count', where });
export const maxTs = (...where: Pred[]): Expr => ({ op: 'maxTs', where });
export const minTs = (...where: Pred[]): Expr => ({ op: 'minTs', where });
export const daysToCutoff = (of: Expr): Expr => ({ op: 'daysToCutoff', of });
export const sumRevenue: Expr = { op: 'sumRevenue' };
export const countDistinct = (key: 'item' | 'day'): Expr => ({ op: 'countDistinct', key });
export const share = (...when: Pred[]): Expr => ({ op: 'share', when });
export const ref = (r: UserRef): Expr => ({ op: 'ref', ref: r });
export const num = (value: number): Expr => ({ op: 'num', value });
export const plus = (a: Expr, b: Expr): Expr => ({ op: '+', a, b });
export const minus = (a: Expr, b: Expr): Expr => ({ op: '-', a, b });
export const div = (a: Expr, b: Expr): Expr => ({ op: '/', a, b });
export const coalesce = (a: Expr, b: Expr): Expr => ({ op: 'coalesce', a, b });
export const greatest = (a: Expr, b: Expr): Expr => ({ op: 'greatest', a, b });
export const isEvent = (type: string): Pred => ({ p: 'event', type });
export const within = (ms: number): Pred => ({ p: 'within', ms });
export const hourIn = (from: number, to: number): Pred => ({ p: 'hour', from, to });
export const weekend: Pred = { p: 'weekend' };

// ---------------------------------------------------------------------------------------------------------------
// SQL: over `events_before` (ts, event, item_id, revenue) grouped by user, $t the cutoff, event types bound by eParam.

const T_SQL = 'CAST($t AS TIMESTAMP)';

function predSql(p: Pred, eParam: (e: string) => string): string {
  switch (p.p) {
    case 'event':
      return `event = ${eParam(p.type)}`;
    case 'within':
      return `ts >= ${T_SQL} - to_milliseconds(${p.ms})`;
    case 'hour':
      return `hour(ts) >= ${p.from} AND hour(ts) < ${p.to}`;
    case 'weekend':
      return `dayofweek(ts) IN (0, 6)`;
  }
}

const filterSql = (where: Pred[], eParam: (e: string) => string) =>
  where.length ? ` FILTER (WHERE ${where.map((p) => predSql(p, eParam)).join(' AND ')})` : '';

/**
 * `refSql` renders a per-user value where the batch SQL keeps it (default: the ref as written, `s.n_sessions`): the
 * declaration names what a value is, the batch query decides which table of its own holds it.
 */
export function toSql(e: Expr, eParam: (e: string) => string, refSql: (r: UserRef) => string = (r) => r): string {
  const sql = (x: Expr) => toSql(x, eParam, refSql);
  switch (e.op) {
    case 'count':
      return `count(*)${filterSql(e.where, eParam)}`;
    case 'maxTs':
      return `max(ts)${filterSql(e.where, eParam)}`;
    case 'minTs':
      return `min(ts)${filterSql(e.where, eParam)}`;
    case 'daysToCutoff':
      return `((epoch_ms(${T_SQL}) - epoch_ms(${sql(e.of)})) / ${DAY_MS}.0)`;
    case 'sumRevenue':
      return 'sum(revenue)';
    case 'countDistinct':
      return e.key === 'item' ? 'count(DISTINCT item_id)' : 'count(DISTINCT CAST(ts AS DATE))';
    case 'share':
      return `avg(CASE WHEN ${e.when.map((p) => predSql(p, eParam)).join(' AND ')} THEN 1 ELSE 0 END)`;
    case 'ref':
      return refSql(e.ref);
    case 'num':
      return String(e.value);
    case '+':
    case '-':
    case '/': {
      // An arithmetic operand in parentheses, so the SQL's precedence cannot regroup the tree.
      const operand = (x: Expr) => (x.op === '+' || x.op === '-' || x.op === '/' ? `(${sql(x)})` : sql(x));
      return `${operand(e.a)} ${e.op} ${operand(e.b)}`;
    }
    case 'coalesce':
    case 'greatest':
      return `${e.op}(${sql(e.a)}, ${sql(e.b)})`;
    case 'attrNumber':
      return `TRY_CAST(${attrSql(e.key)} AS DOUBLE)`;
    case 'attrIs':
      return `coalesce(${attrSql(e.key)} = ${quoteLiteral(e.value)}, false)`;
  }
}

const attrSql = (key: string) => `json_extract_string(c.attributes, ${quoteLiteral(`$."${key}"`)})`;

// ---------------------------------------------------------------------------------------------------------------
// In memory: one user's events before T, as parallel arrays (times in microseconds since the epoch, as DuckDB
// stores a TIMESTAMP; a double holds them exactly).

export interface UserEvents {
  n: number;
  /** Microseconds since the epoch, ascending. */
  ts: Float64Array | number[];
  event: string[];
  item: (string | null)[];
  revenue: (number | null)[];
}

export interface EvalContext {
  ev: UserEvents;
  /** The cutoff (as-of time) in milliseconds. */
  tMs: number;
  refs: Record<UserRef, number | null>;
  /** The user's customer attributes as of the cutoff (the parsed JSON of the customers_at row), null without one. */
  attributes?: Record<string, unknown> | null;
}

/** json_extract_string of a top-level key: strings as they are, other values as JSON text, NULL for null/missing. */
function attrText(attrs: Record<string, unknown> | null | undefined, key: string): string | null {
  const v = attrs?.[key];
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** TRY_CAST(text AS DOUBLE) for decimal text (surrounding spaces allowed); anything else NULL. */
function tryDouble(s: string | null): number | null {
  return s !== null && /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(s) ? Number(s) : null;
}

const US_PER_DAY = DAY_MS * 1000;
/** epoch_ms of a TIMESTAMP: microseconds / 1000 truncated (C++ integer division, as DuckDB). */
const epochMs = (us: number) => Math.trunc(us / 1000);
const floorDiv = (a: number, b: number) => Math.floor(a / b);
/** hour(ts) and dayofweek(ts) (0 = Sunday) of a UTC TIMESTAMP; 1970-01-01 was a Thursday. */
const hourOf = (us: number) => floorDiv(us, 3_600_000_000) - 24 * floorDiv(us, US_PER_DAY);
const dayOf = (us: number) => floorDiv(us, US_PER_DAY);
const weekdayOf = (us: number) => (((dayOf(us) + 4) % 7) + 7) % 7;

function matches(where: Pred[], c: EvalContext, i: number): boolean {
  for (const p of where) {
    const ts = c.ev.ts[i];
    if (p.p === 'event' && c.ev.event[i] !== p.type) return false;
    if (p.p === 'within' && ts < (c.tMs - p.ms) * 1000) return false;
    if (p.p === 'hour' && !(hourOf(ts) >= p.from && hourOf(ts) < p.to)) return false;
    if (p.p === 'weekend' && weekdayOf(ts) !== 0 && weekdayOf(ts) !== 6) return false;
  }
  return true;
}

/** The value `toSql(e)` gives for the user of `c` (null for SQL NULL). */
export function evaluate(e: Expr, c: EvalContext): number | null {
  const n = c.ev.n;
  switch (e.op) {
    case 'count': {
      let k = 0;
      for (let i = 0; i < n; i++) if (matches(e.where, c, i)) k++;
      return k;
    }
    case 'maxTs':
    case 'minTs': {
      let best: number | null = null;
      for (let i = 0; i < n; i++)
        if (matches(e.where, c, i)) {
          const t = c.ev.ts[i];
          if (best === null || (e.op === 'maxTs' ? t > best : t < best)) best = t;
        }
      return best;
    }
    case 'daysToCutoff': {
      const t = evaluate(e.of, c);
      return t === null ? null : (c.tMs - epochMs(t)) / DAY_MS;
    }
    case 'sumRevenue': {
      let s: number | null = null;
      for (let i = 0; i < n; i++) if (c.ev.revenue[i] !== null) s = (s ?? 0) + c.ev.revenue[i]!;
      return s;
    }
    case 'countDistinct': {
      const seen = new Set<string | number>();
      for (let i = 0; i < n; i++) {
        const v = e.key === 'item' ? c.ev.item[i] : dayOf(c.ev.ts[i]);
        if (v !== null) seen.add(v);
      }
      return seen.size;
    }
    case 'share': {
      let k = 0;
      for (let i = 0; i < n; i++) if (matches(e.when, c, i)) k++;
      return n ? k / n : null;
    }
    case 'ref':
      return c.refs[e.ref];
    case 'num':
      return e.value;
    case 'attrNumber':
      return tryDouble(attrText(c.attributes, e.key));
    case 'attrIs':
      return attrText(c.attributes, e.key) === e.value ? 1 : 0;
    default:
      return binary(e, c);
  }
}

function binary(e: Extract<Expr, { a: Expr }>, c: EvalContext): number | null {
  const a = evaluate(e.a, c);
  const b = evaluate(e.b, c);
  switch (e.op) {
    case 'coalesce':
      return a ?? b;
    case 'greatest': // DuckDB's greatest skips NULLs
      return a === null ? b : b === null ? a : Math.max(a, b);
    case '+':
      return a === null || b === null ? null : a + b;
    case '-':
      return a === null || b === null ? null : a - b;
    case '/':
      return a === null || b === null || b === 0 ? null : a / b;
  }
}
