/**
 * Customer attributes as features, point-in-time: at cutoff T each user gets the latest row valid before T
 * (`validFrom` < T), so an attribute recorded later never reaches a model trained or scored at T. A pipeline may
 * instead declare its attributes static (never changing): then the single row per user is used at every cutoff,
 * and the feature docs (and the report) say so.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { PipelineDefinition } from '../pipelines/schema';
import { quoteIdent, quoteLiteral } from './db';
import { columnSafe } from './names';
import { toSql, type Expr } from './feature-expr';

const noEvents = (e: string) => {
  throw new Error(`an attribute feature names no event type (${e})`);
};

export type AttributeTiming = 'as-of' | 'static' | null;

/**
 * Creates `customers_at (user_id, attributes)` as of the cutoff and returns the SELECT expressions of the
 * attribute features over its alias `c`: numbers as they are, other values one-hot over their 10 most frequent
 * values at the cutoff. Writes each feature's documentation into `docs`.
 */
export async function customerAttributeColumns(
  conn: DuckDBConnection,
  def: PipelineDefinition,
  cutoffIso: string,
  docs: Record<string, string>,
): Promise<{ columns: string[]; defs: { name: string; expr: Expr }[]; timing: AttributeTiming }> {
  const cust = def.sources.customers;
  if (!cust) return { columns: [], defs: [], timing: null };
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE customers_at AS
     SELECT user_id, attributes FROM (
       SELECT user_id, attributes, row_number() OVER (PARTITION BY user_id ORDER BY valid_from DESC NULLS LAST, source_file DESC, source_line DESC) AS rn
       FROM customers WHERE valid_from IS NULL OR valid_from < CAST($t AS TIMESTAMP))
     WHERE rn = 1`,
    { t: cutoffIso },
  );
  const timing: AttributeTiming = cust.static ? 'static' : 'as-of';
  const when = cust.static ? 'static: declared never to change, the same at every cutoff' : 'as of the cutoff';
  const columns: string[] = [];
  const defs: { name: string; expr: Expr }[] = [];
  const declare = (name: string, expr: Expr, doc: string) => {
    columns.push(`CAST(${toSql(expr, noEvents)} AS DOUBLE) AS ${quoteIdent(name)}`);
    defs.push({ name, expr });
    docs[name] = doc;
  };
  for (const a of cust.columns.attributes) {
    const path = quoteLiteral(`$."${a}"`);
    const value = (alias: string) => `json_extract_string(${alias}attributes, ${path})`;
    const nonNumeric = await conn.runAndReadAll(
      `SELECT count(*) FILTER (WHERE TRY_CAST(${value('')} AS DOUBLE) IS NULL AND ${value('')} IS NOT NULL) FROM customers_at`,
    );
    const name = `attr_${columnSafe(a)}`;
    if (Number(nonNumeric.getRows()[0][0]) === 0) {
      declare(name, { op: 'attrNumber', key: a }, `customer attribute "${a}" (numeric; missing = NaN; ${when})`);
      continue;
    }
    const top = await conn.runAndReadAll(
      `SELECT ${value('')} v FROM customers_at WHERE v IS NOT NULL GROUP BY v ORDER BY count(*) DESC, v LIMIT 10`,
    );
    for (const [v] of top.getRows())
      declare(
        `${name}_${columnSafe(String(v))}`,
        { op: 'attrIs', key: a, value: String(v) },
        `customer attribute "${a}" = "${v}" (one-hot over its 10 most frequent values; ${when})`,
      );
  }
  return { columns, defs, timing };
}
