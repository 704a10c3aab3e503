/** Validation of raw rows: mapped fields, timestamps, event types, revenue; each failing row gets its reason. */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { EventsSource, FieldSource } from '../../pipelines/schema';
import { quoteIdent, quoteLiteral } from '../db';
import { tmpName } from './read';
import { ExtractError } from './types';

export function fieldColumns(f: FieldSource | undefined): string[] {
  if (f === undefined) return [];
  if (typeof f === 'string') return [f];
  if ('column' in f) return [f.column];
  if ('product' in f) return [...f.product];
  return [];
}

/** SQL for a mapped field as text (for validation and storage). */
export function textExpr(f: FieldSource | undefined): string {
  if (f === undefined) return 'NULL';
  if (typeof f === 'string') return `NULLIF(trim(${quoteIdent(f)}), '')`;
  if ('column' in f) return `NULLIF(trim(${quoteIdent(f.column)}), '')`;
  if ('constant' in f) return quoteLiteral(f.constant);
  return `CAST(TRY_CAST(${quoteIdent(f.product[0])} AS DOUBLE) * TRY_CAST(${quoteIdent(f.product[1])} AS DOUBLE) AS VARCHAR)`;
}

/** Timestamp parsing by the declared format; `auto` understands ISO, epoch s/ms and yyyymmdd. */
export function timestampExpr(v: string, format: string): string {
  if (format === 'epoch_ms') return `make_timestamp(TRY_CAST(${v} AS BIGINT) * 1000)`;
  if (format === 'epoch_s') return `make_timestamp(TRY_CAST(${v} AS BIGINT) * 1000000)`;
  if (format !== 'auto') return `try_strptime(${v}, ${quoteLiteral(format)})`;
  // Digits only: epoch ms (13), epoch s (10) or yyyymmdd (8); tested by length first (cheaper than a regexp).
  return `CASE WHEN length(${v}) IN (8, 10, 13) AND TRY_CAST(${v} AS BIGINT) IS NOT NULL THEN
      CASE length(${v}) WHEN 13 THEN make_timestamp(TRY_CAST(${v} AS BIGINT) * 1000)
                        WHEN 10 THEN make_timestamp(TRY_CAST(${v} AS BIGINT) * 1000000)
                        ELSE try_strptime(${v}, '%Y%m%d') END
    ELSE coalesce(CAST(TRY_CAST(${v} AS TIMESTAMPTZ) AS TIMESTAMP), try_strptime(${v}, '%m/%d/%Y %H:%M'), try_strptime(${v}, '%d/%m/%Y %H:%M')) END`;
}

export function checkColumns(file: string, have: string[], needed: string[], what: string) {
  for (const c of needed) {
    if (!have.includes(c)) {
      throw new ExtractError(
        `${file}: the mapped column "${c}" (${what}) is not in the file; its columns are: ${have.join(', ')}`,
        file,
        c,
      );
    }
  }
}

/** Validates the raw rows of one events file into a staging table with `reason`/`bad_column` for rejects. */
export async function stageEvents(
  conn: DuckDBConnection,
  file: string,
  spec: EventsSource,
  raw: string,
  columns: string[],
  futureAfter: Date,
  skipBefore: number,
) {
  const m = spec.columns;
  const ruleCols = spec.eventRules.map((r) => r.when.column);
  checkColumns(
    file,
    columns,
    [
      ...fieldColumns(m.user_id),
      ...fieldColumns(m.ts),
      ...fieldColumns(m.event),
      ...fieldColumns(m.item_id),
      ...fieldColumns(m.revenue),
      ...fieldColumns(m.session_id),
      ...m.properties,
      ...ruleCols,
    ],
    'columns mapping',
  );
  const params: Record<string, string> = { future: futureAfter.toISOString() };
  let eventExpr = textExpr(m.event);
  spec.eventRules.forEach((r, i) => {
    params[`rp${i}`] = r.when.startsWith;
    params[`re${i}`] = r.event;
    eventExpr = `CASE WHEN starts_with(coalesce(${quoteIdent(r.when.column)}, ''), $rp${i}) THEN $re${i} ELSE ${eventExpr} END`;
  });
  const listParam = (name: string, values: string[]) => {
    values.forEach((v, i) => (params[`${name}${i}`] = v));
    return values.length ? `(${values.map((_, i) => `$${name}${i}`).join(', ')})` : `(NULL)`;
  };
  const known = spec.eventTypes ? listParam('et', spec.eventTypes) : null;
  const negOk = listParam('neg', spec.negativeRevenueEvents);
  const props = m.properties.length
    ? `to_json(json_object(${m.properties.map((p) => `${quoteLiteral(p)}, ${quoteIdent(p)}`).join(', ')}))`
    : 'NULL';
  const col = (f: FieldSource | undefined) => quoteLiteral(fieldColumns(f).join(' × ') || 'constant');
  const stage = tmpName('stage');
  await conn.run(
    `CREATE TEMP TABLE ${stage} AS
     WITH v AS (
       SELECT __line, ${textExpr(m.user_id)} AS user_id, ${textExpr(m.ts)} AS ts_raw, ${eventExpr} AS event,
              ${textExpr(m.item_id)} AS item_id, ${textExpr(m.revenue)} AS revenue_raw, ${textExpr(m.session_id)} AS session_id,
              ${props} AS properties
       FROM ${raw} WHERE __line > ${skipBefore}),
     p AS (SELECT *, ${timestampExpr('ts_raw', spec.timestampFormat)} AS ts, TRY_CAST(revenue_raw AS DOUBLE) AS revenue FROM v)
     SELECT *,
       CASE WHEN user_id IS NULL THEN 'missing user id'
            WHEN ts_raw IS NULL THEN 'missing timestamp'
            WHEN ts IS NULL THEN 'unparseable timestamp'
            WHEN ts > CAST($future AS TIMESTAMP) THEN 'timestamp in the future'
            WHEN event IS NULL THEN 'missing event type'
            ${known ? `WHEN event NOT IN ${known} THEN 'unknown event type'` : ''}
            WHEN revenue_raw IS NOT NULL AND (revenue IS NULL OR isnan(revenue) OR isinf(revenue)) THEN 'non-numeric revenue'
            WHEN revenue < 0 AND ${spec.negativeRevenueEvents.length ? `event NOT IN ${negOk}` : 'TRUE'} THEN 'negative revenue'
       END AS reason,
       CASE WHEN user_id IS NULL THEN ${col(m.user_id)}
            WHEN ts_raw IS NULL OR ts IS NULL OR ts > CAST($future AS TIMESTAMP) THEN ${col(m.ts)}
            WHEN event IS NULL ${known ? `OR event NOT IN ${known}` : ''} THEN ${col(m.event)}
            ELSE ${col(m.revenue)} END AS bad_column,
       hash(${spec.dedupe ? "''" : '__line'}, user_id, ts, event, coalesce(item_id, ''), coalesce(CAST(revenue AS VARCHAR), ''), coalesce(session_id, ''), coalesce(CAST(properties AS VARCHAR), '')) AS row_key
     FROM p`,
    params,
  );
  // The raw text is rebuilt only for the rejected rows (joined back on their line), not carried for every row.
  const rawText = `concat_ws(',', ${columns.map((c) => `r.${quoteIdent(c)}`).join(', ')})`;
  return { stage, rawText };
}
