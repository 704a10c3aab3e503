/**
 * The SQL side of customer lifetime value: the RFM summaries the models are fitted on (grouped, so a fit over
 * millions of customers evaluates each distinct summary once, with its count as weight), the per-customer columns
 * written from the fitted model, and the realised repeat purchases after the cutoff when the data holds them.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { commitTemp, tempNameFor, type Writer } from '../infra/atomic';
import type { ClvModel } from '../ml/clv';
import type { ClvJob } from '../ml/clv/thread';
import { quoteIdent, quoteLiteral } from './db';

async function all(conn: DuckDBConnection, sql: string, params?: Record<string, string | number>) {
  return (await conn.runAndReadAll(sql, params)).getRows().map((r) => r.map(Number));
}

/** Customers are users with at least one purchase (the label event) before the cutoff: `n_<purchase>_total > 0`. */
export async function readRfmSummaries(
  conn: DuckDBConnection,
  featuresPath: string,
  purchaseCount: string,
): Promise<{ summary: ClvJob['summary']; repeat: ClvJob['repeat']; customers: number; users: number }> {
  const f = `read_parquet(${quoteLiteral(featuresPath)})`;
  const customer = `${quoteIdent(purchaseCount)} > 0`;
  const grouped = await all(
    conn,
    `SELECT rfm_frequency, rfm_recency, rfm_t, count(*) FROM ${f} WHERE ${customer} GROUP BY ALL ORDER BY ALL`,
  );
  const repeat = await all(
    conn,
    `SELECT rfm_frequency, rfm_monetary, count(*) FROM ${f} WHERE ${customer} AND rfm_frequency > 0 AND rfm_monetary > 0
     GROUP BY ALL ORDER BY ALL`,
  );
  const [[customers, users]] = await all(conn, `SELECT count(*) FILTER (WHERE ${customer}), count(*) FROM ${f}`);
  return {
    summary: {
      frequency: grouped.map((r) => r[0]),
      recency: grouped.map((r) => r[1]),
      T: grouped.map((r) => r[2]),
      weights: grouped.map((r) => r[3]),
    },
    repeat: { frequency: repeat.map((r) => r[0]), monetary: repeat.map((r) => r[1]), weights: repeat.map((r) => r[2]) },
    customers,
    users,
  };
}

/**
 * clv.parquet: one row per customer (user_id, repeat_purchases, expected_purchases, p_alive, expected_spend, clv).
 * Users who never bought are not customers and get no row: BG/NBD starts at a first purchase.
 */
export async function writeCustomerValues(
  conn: DuckDBConnection,
  o: {
    featuresPath: string;
    purchaseCount: string;
    summary: ClvJob['summary'];
    perSummary: { expected: number[]; discounted: number[]; pAlive: number[] };
    model: ClvModel;
    outFile: string;
    writer?: Writer;
  },
): Promise<void> {
  const table = `clv_summaries_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  await conn.run(
    `CREATE TEMP TABLE ${table} (x DOUBLE, tx DOUBLE, age DOUBLE, expected DOUBLE, discounted DOUBLE, p_alive DOUBLE)`,
  );
  const appender = await conn.createAppender(table);
  const s = o.summary;
  for (let i = 0; i < s.frequency.length; i++) {
    for (const v of [
      s.frequency[i],
      s.recency[i],
      s.T[i],
      o.perSummary.expected[i],
      o.perSummary.discounted[i],
      o.perSummary.pAlive[i],
    ])
      appender.appendDouble(v);
    appender.endRow();
  }
  appender.closeSync();
  const { p, q, v } = o.model.gammaGamma.params;
  // E[spend | x, m̄] = (1 − w)·E[Z] + w·m̄ with w = p·x / (p·x + q − 1): Gamma-Gamma's posterior mean (x = 0: E[Z]).
  const w = `(${p} * f.rfm_frequency / (${p} * f.rfm_frequency + ${q} - 1))`;
  const spend = `((1 - ${w}) * ${(p * v) / (q - 1)} + ${w} * f.rfm_monetary)`;
  const tmp = tempNameFor(o.outFile, o.writer);
  await conn.run(
    `COPY (SELECT f.user_id, CAST(f.rfm_frequency AS INTEGER) AS repeat_purchases, s.expected AS expected_purchases,
                  s.p_alive, ${spend} AS expected_spend, s.discounted * ${spend} AS clv
           FROM read_parquet(${quoteLiteral(o.featuresPath)}) f
           JOIN ${table} s ON s.x = f.rfm_frequency AND s.tx = f.rfm_recency AND s.age = f.rfm_t
           WHERE f.${quoteIdent(o.purchaseCount)} > 0 ORDER BY f.user_id)
     TO ${quoteLiteral(tmp)} (FORMAT parquet)`,
  );
  await conn.run(`DROP TABLE ${table}`);
  commitTemp(tmp, o.outFile, o.writer);
}

export interface ClvValidationBucket {
  /** Repeat purchases before the cutoff (the calibration frequency); the last bucket holds "this many or more". */
  repeatPurchases: number;
  customers: number;
  predicted: number;
  actual: number;
}

/**
 * The check `lifetimes` users make (plot_calibration_purchases_vs_holdout_purchases): per calibration frequency,
 * the mean predicted repeat purchases over the horizon against the mean realised ones (distinct purchase days in
 * [T, T + horizon)), on the warehouse connection.
 */
export async function validateAgainstHoldout(
  warehouse: DuckDBConnection,
  o: { clvPath: string; purchase: string; cutoff: string; end: string; maxBucket?: number },
): Promise<ClvValidationBucket[]> {
  const top = o.maxBucket ?? 7;
  const rows = await all(
    warehouse,
    `WITH actual AS (SELECT user_id, count(DISTINCT CAST(ts AS DATE)) AS n FROM events
                     WHERE event = $e AND ts >= CAST($t AS TIMESTAMP) AND ts < CAST($t2 AS TIMESTAMP) GROUP BY user_id)
     SELECT least(c.repeat_purchases, ${top}) AS bucket, count(*), avg(c.expected_purchases), avg(coalesce(a.n, 0))
     FROM read_parquet(${quoteLiteral(o.clvPath)}) c LEFT JOIN actual a ON a.user_id = c.user_id
     GROUP BY bucket ORDER BY bucket`,
    { e: o.purchase, t: o.cutoff, t2: o.end },
  );
  return rows.map(([repeatPurchases, customers, predicted, actual]) => ({
    repeatPurchases,
    customers,
    predicted,
    actual,
  }));
}

export interface ClvOverview {
  /** CLV at the 10th, 20th … 90th, 99th percentile and the maximum, over the customers. */
  percentiles: { percentile: number; clv: number }[];
  total: number;
  /** The most valuable customers: id, value, expected purchases, P(alive), repeat purchases so far. */
  top: { userId: string; clv: number; expectedPurchases: number; pAlive: number; repeatPurchases: number }[];
}

/** What the report shows of clv.parquet: the spread of values and the top customers. */
export async function clvOverview(conn: DuckDBConnection, clvPath: string, topN = 10): Promise<ClvOverview> {
  const f = `read_parquet(${quoteLiteral(clvPath)})`;
  const qs = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99, 1];
  const [q] = (await conn.runAndReadAll(`SELECT quantile_cont(clv, [${qs.join(', ')}]), sum(clv) FROM ${f}`)).getRows();
  const values = (q[0] as { items: unknown[] }).items.map(Number);
  const top = (
    await conn.runAndReadAll(
      `SELECT user_id, clv, expected_purchases, p_alive, repeat_purchases FROM ${f} ORDER BY clv DESC, user_id LIMIT ${topN}`,
    )
  ).getRows();
  return {
    percentiles: qs.map((p, i) => ({ percentile: Math.round(p * 100), clv: values[i] })),
    total: Number(q[1]),
    top: top.map((r) => ({
      userId: String(r[0]),
      clv: Number(r[1]),
      expectedPurchases: Number(r[2]),
      pAlive: Number(r[3]),
      repeatPurchases: Number(r[4]),
    })),
  };
}
