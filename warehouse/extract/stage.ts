/** Validation of raw rows: mapped fields, timestamps, event types, revenue; each failing row gets its reason. */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { EventsSource, FieldSource } from '../../pipelines/schema';
import { quoteIdent, quoteLiteral } from '../db';
import { tmpName } from './read';
import { resolveTimestamps, timestampExpr } from './timestamps';
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

/** Control characters: never part of an id or event type (and refused in SQL literals later). */
export const CONTROL = `'[\\x00-\\x1f\\x7f]'`;
/** Earlier timestamps are corrupt (year 0, negative years); JavaScript dates of them broke later steps. */
export const EARLIEST = `TIMESTAMP '1900-01-01'`;

/** The rejected row as text for `quarantine.raw`: empty fields stay (concat_ws alone drops NULLs). */
export function rawTextExpr(columns: string[], prefix = ''): string {
  return `concat_ws(',', ${columns.map((c) => `coalesce(${prefix}${quoteIdent(c)}, '')`).join(', ')})`;
}

/** Whether a raw table came from JSON (it then lists each row's object/array/boolean fields in `__nonscalar`). */
export async function isJsonRaw(conn: DuckDBConnection, raw: string): Promise<boolean> {
  const r = await conn.runAndReadAll(
    `SELECT count(*) FROM duckdb_columns() WHERE table_name = $t AND column_name = '__nonscalar'`,
    { t: raw },
  );
  return Number(r.getRows()[0][0]) > 0;
}

/** JSON ids must be strings or numbers: an object, array or boolean as an id is quarantined. */
export function nonScalarChecks(json: boolean, fields: (FieldSource | undefined)[]): [string, string, string][] {
  if (!json) return [];
  return fields.flatMap((f) =>
    fieldColumns(f).map(
      (c) =>
        [
          `list_contains(__nonscalar, ${quoteLiteral(c)})`,
          `JSON object, array or boolean as ${c}`,
          quoteLiteral(c),
        ] as [string, string, string],
    ),
  );
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

/**
 * The checks of an events row, in order: the first failing one is the row's reason, with the column it names.
 * Every row that passes is one later steps can use (no control characters in names, no year-0 times).
 */
function eventChecks(
  spec: EventsSource,
  json: boolean,
  known: string | null,
  negOk: string,
): [string, string, string][] {
  const m = spec.columns;
  const col = (f: FieldSource | undefined) => quoteLiteral(fieldColumns(f).join(' × ') || 'constant');
  return [
    ['user_id IS NULL', 'missing user id', col(m.user_id)],
    ...nonScalarChecks(json, [m.user_id, m.event, m.item_id, m.session_id]),
    [`has_control AND regexp_matches(user_id, ${CONTROL})`, 'control character in user id', col(m.user_id)],
    ['ts_raw IS NULL', 'missing timestamp', col(m.ts)],
    ['ts IS NULL', 'unparseable timestamp', col(m.ts)],
    [`ts < ${EARLIEST}`, 'timestamp before 1900', col(m.ts)],
    ['ts > CAST($future AS TIMESTAMP)', 'timestamp in the future', col(m.ts)],
    ['event IS NULL', 'missing event type', col(m.event)],
    [`has_control AND regexp_matches(event, ${CONTROL})`, 'control character in event type', col(m.event)],
    ...(known ? [[`event NOT IN ${known}`, 'unknown event type', col(m.event)] as [string, string, string]] : []),
    [`has_control AND regexp_matches(item_id, ${CONTROL})`, 'control character in item id', col(m.item_id)],
    [`has_control AND regexp_matches(session_id, ${CONTROL})`, 'control character in session id', col(m.session_id)],
    [
      'revenue_raw IS NOT NULL AND (revenue IS NULL OR isnan(revenue) OR isinf(revenue))',
      'non-numeric revenue',
      col(m.revenue),
    ],
    [
      `revenue < 0 AND ${spec.negativeRevenueEvents.length ? `event NOT IN ${negOk}` : 'TRUE'}`,
      'negative revenue',
      col(m.revenue),
    ],
  ];
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
  const tsParse = await resolveTimestamps(conn, {
    file,
    raw,
    v: textExpr(m.ts),
    column: fieldColumns(m.ts).join(' × ') || 'ts',
    format: spec.timestampFormat,
  });
  const json = await isJsonRaw(conn, raw);
  const checks = eventChecks(spec, json, known, negOk);
  const stage = tmpName('stage');
  await conn.run(
    `CREATE TEMP TABLE ${stage} AS
     WITH v AS (
       SELECT __line, ${textExpr(m.user_id)} AS user_id, ${textExpr(m.ts)} AS ts_raw, ${eventExpr} AS event,
              ${textExpr(m.item_id)} AS item_id, ${textExpr(m.revenue)} AS revenue_raw, ${textExpr(m.session_id)} AS session_id,
              ${props} AS properties${json ? ', __nonscalar' : ''}
       FROM ${raw} WHERE __line > ${skipBefore}),
     p AS (SELECT *, ${timestampExpr('ts_raw', tsParse)} AS ts, TRY_CAST(revenue_raw AS DOUBLE) AS revenue,
                  -- one regexp per row; the per-column ones run only on the rare rows that have a control character
                  regexp_matches(concat_ws('', user_id, event, item_id, session_id), ${CONTROL}) AS has_control FROM v)
     SELECT * EXCLUDE (has_control${json ? ', __nonscalar' : ''}),
       CASE ${checks.map(([c, r]) => `WHEN ${c} THEN ${quoteLiteral(r)}`).join(' ')} END AS reason,
       CASE ${checks.map(([c, , k]) => `WHEN ${c} THEN ${k}`).join(' ')} END AS bad_column,
       hash(${spec.dedupe ? "''" : '__line'}, user_id, ts, event, coalesce(item_id, ''), coalesce(CAST(revenue AS VARCHAR), ''), coalesce(session_id, ''), coalesce(CAST(properties AS VARCHAR), '')) AS row_key
     FROM p`,
    params,
  );
  // The raw text is rebuilt only for the rejected rows (joined back on their line), not carried for every row.
  const rawText = rawTextExpr(columns, 'r.');
  return { stage, rawText };
}
