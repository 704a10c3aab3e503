/**
 * What `funnelcast evaluate` reads from a table it has never seen: the delimiter, and which columns must not be
 * features. An id or a timestamp in the features lets a model memorise rows or learn when they were recorded:
 * good cross-validation numbers that mean nothing on new users.
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { DuckDBConnection } from '@duckdb/node-api';
import { quoteIdent, quoteLiteral } from '../warehouse/db';

const CANDIDATES = [',', ';', '\t', '|'];

/** The first `bytes` of a file, gunzipped when it ends in .gz (the rest of the file is never read). */
async function head(file: string, bytes = 64 * 1024): Promise<string> {
  const raw = createReadStream(file, file.toLowerCase().endsWith('.gz') ? {} : { end: bytes - 1 });
  const stream = file.toLowerCase().endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of stream as AsyncIterable<Buffer>) {
      chunks.push(c);
      size += c.length;
      if (size >= bytes) break;
    }
  } finally {
    raw.destroy();
  }
  return Buffer.concat(chunks).subarray(0, bytes).toString('utf8');
}

/** Occurrences of `d` outside double quotes in one line. */
function countOutsideQuotes(line: string, d: string): number {
  let n = 0;
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    else if (ch === d && !quoted) n++;
  }
  return n;
}

/**
 * The delimiter of a delimited text: the candidate (`,` `;` tab `|`) that splits the header and the following
 * lines into the same number of fields, the most fields winning. Defaults to `,` (one column, or no agreement).
 */
export function detectDelimiter(text: string): string {
  const lines = text.split(/\r?\n/).slice(0, 50);
  if (lines.length > 1 && !text.endsWith('\n')) lines.pop(); // the last line may be cut by the read limit
  const body = lines.filter((l) => l.trim() !== '');
  let best = { d: ',', fields: 1 };
  for (const d of CANDIDATES) {
    const counts = body.map((l) => countOutsideQuotes(l, d));
    if (counts[0] === 0) continue;
    const agree = counts.filter((c) => c === counts[0]).length;
    if (agree / counts.length >= 0.9 && counts[0] + 1 > best.fields) best = { d, fields: counts[0] + 1 };
  }
  return best.d;
}

export async function sniffDelimiter(file: string): Promise<string> {
  return detectDelimiter(await head(file));
}

/** The DuckDB relation `evaluate` and readFeatureTable read (same options, so the same columns and types). */
export function tableRelation(file: string, delimiter: string | undefined): string {
  const f = file.toLowerCase().replace(/\.gz$/, '');
  if (f.endsWith('.parquet')) return `read_parquet(${quoteLiteral(file)})`;
  return `read_csv(${quoteLiteral(file)}, delim=${quoteLiteral(delimiter ?? ',')}, header=true, sample_size=-1)`;
}

/** customer_id, CustomerID, userId, id, uuid, id_customer, row index columns… */
const ID_NAME =
  /^(id|uuid|guid|key|index|row|row_?id|row_?num(ber)?|unnamed.*|)$|[_\s.-](id|uuid|guid|key)$|^(id|uuid|guid)[_\s.-]|[a-z0-9](Id|ID|Uuid|UUID|Key)$/i;
/** date, InvoiceDate, created_at, event_time, ts… (a numeric one is excluded only when it holds epoch values). */
const TIME_NAME =
  /^(date|time|timestamp|datetime|ts|dt)$|[_\s.-](date|time|timestamp|datetime|ts|dt|at)$|^(date|time|timestamp)[_\s.-]|[a-z0-9](Date|Time|Timestamp|At)$/;
const TIME_NAME_CI = new RegExp(TIME_NAME.source, 'i');
const TEMPORAL = /^(DATE|TIME|TIMESTAMP|INTERVAL)/;
const INTEGER = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT)$/;
const NUMERIC = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|DECIMAL)/;

export interface ExcludedColumn {
  column: string;
  reason: string;
}

/**
 * Columns that are not features, with the reason: the ones the user excluded, the id and time columns named on
 * the command line, and those detected by type (dates, timestamps), by content (text that parses as dates, a
 * distinct text value on every row, a 1…n row counter) or by name (ids; numeric times holding epoch values).
 */
export async function nonFeatureColumns(
  conn: DuckDBConnection,
  relation: string,
  o: { label: string; exclude: string[]; idColumn?: string; timeColumn?: string },
): Promise<{ columns: string[]; excluded: ExcludedColumn[] }> {
  const desc = (await conn.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM ${relation})`))
    .getRows()
    .map((r) => [String(r[0]), String(r[1])] as const);
  const columns = desc.map(([n]) => n);
  const rows = Number((await conn.runAndReadAll(`SELECT count(*) FROM ${relation}`)).getRows()[0][0]);
  const excluded: ExcludedColumn[] = [];
  for (const [name, type] of desc) {
    if (name === o.label) continue;
    const reason = o.exclude.includes(name)
      ? 'excluded (--exclude)'
      : name === o.idColumn
        ? 'the id column (--id-column)'
        : name === o.timeColumn
          ? 'the time column (--time-column)'
          : await detectedReason(conn, relation, name, type, rows);
    if (reason) excluded.push({ column: name, reason });
  }
  return { columns, excluded };
}

async function detectedReason(
  conn: DuckDBConnection,
  relation: string,
  name: string,
  type: string,
  rows: number,
): Promise<string | null> {
  if (TEMPORAL.test(type)) return `a date/time column (${type})`;
  if (ID_NAME.test(name)) return 'named like an id';
  const q = quoteIdent(name);
  const one = async (sql: string) => (await conn.runAndReadAll(sql)).getRows()[0].map(Number);
  if (NUMERIC.test(type)) {
    const [nonNull, distinct, lo, hi] = await one(
      `SELECT count(${q}), count(DISTINCT ${q}), min(${q})::DOUBLE, max(${q})::DOUBLE FROM ${relation}`,
    );
    // Seconds since 1973 or milliseconds: a time stamp, not a quantity.
    if (TIME_NAME_CI.test(name) && lo > 1e8) return 'named like a time, holding epoch values';
    if (INTEGER.test(type) && rows >= 20 && nonNull === rows && distinct === rows && hi - lo + 1 === rows)
      return 'a row counter (1…n)';
    return null;
  }
  const [nonNull, asTime, distinct, asNumber] = await one(
    `SELECT count(${q}), count(TRY_CAST(${q} AS TIMESTAMP)), count(DISTINCT ${q}), count(TRY_CAST(${q} AS DOUBLE)) FROM ${relation}`,
  );
  if (nonNull > 0 && asTime / nonNull >= 0.9) return 'text holding dates/times';
  // Numbers with a few junk values: a feature whose junk the reader reports by row, not an id.
  if (nonNull > 0 && asNumber / nonNull >= 0.9) return null;
  if (rows >= 20 && nonNull === rows && distinct === rows) return 'a distinct text value on every row (an id)';
  return null;
}
