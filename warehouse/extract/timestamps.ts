/**
 * Timestamp parsing is decided once per column of a file, never per value.
 *
 * Per-value guessing misread whole files: DuckDB's TIMESTAMPTZ cast carries a zone name from one value into the
 * zone-less values after it (one `… PST` row moved 100 rows by 8 hours), `03/04/2024` and `13/04/2024` were read
 * in opposite day/month orders, and seconds read as milliseconds landed in January 1970. So with `auto` every
 * value is classified (epoch s/ms, yyyymmdd, ISO with or without a zone, d/m/y with slashes) and the column must
 * agree: a mix is an error naming the file, the column and two conflicting values with their lines. A value of no
 * known shape is left unparsed (quarantined as `unparseable timestamp`), like any other bad value.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { quoteLiteral } from '../db';
import { ExtractError } from './types';

const slashPatterns = (d: string) => [`${d} %H:%M:%S`, `${d} %H:%M`, d];

/** The shapes `auto` knows, with how each is parsed and how it is described in an error. */
const SHAPES = {
  epoch_ms: { re: String.raw`-?\d{13}`, say: 'epoch milliseconds' },
  epoch_s: { re: String.raw`-?\d{9,10}`, say: 'epoch seconds' },
  yyyymmdd: { re: String.raw`\d{8}`, say: 'yyyymmdd' },
  iso: { re: String.raw`-?\d{4,}-\d{1,2}-\d{1,2}([T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?`, say: 'no time zone' },
  iso_zoned: {
    re: String.raw`-?\d{4,}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*([Zz]|[+-]\d{2}(:?\d{2})?|[A-Za-z][A-Za-z0-9_/+-]*)`,
    say: 'with a time zone',
  },
  slash: { re: String.raw`\d{1,2}/\d{1,2}/\d{4}( \d{1,2}:\d{2}(:\d{2})?)?`, say: 'day and month with slashes' },
} as const;
type Shape = keyof typeof SHAPES;

/** The shape `v` looks like (regexes only; the common ISO shapes are tried first: this runs on every row). */
const ORDER: Shape[] = ['iso_zoned', 'iso', 'epoch_ms', 'epoch_s', 'yyyymmdd', 'slash'];
const lookOf = (v: string) =>
  `CASE ${ORDER.map((k) => `WHEN regexp_full_match(${v}, ${quoteLiteral(SHAPES[k].re)}) THEN ${quoteLiteral(k)}`).join(' ')} END`;

/** Whether `v`, looking like `shape`, parses as it (`31/31/2024` is no date in either order): parsed once. */
const parsesAs = (v: string, shape: string) =>
  `CASE ${shape} ${ORDER.map((k) => {
    const parse =
      k === 'slash'
        ? `coalesce(${timestampExpr(v, { patterns: slashPatterns('%d/%m/%Y') })}, ${timestampExpr(v, { patterns: slashPatterns('%m/%d/%Y') })})`
        : timestampExpr(v, k);
    return `WHEN ${quoteLiteral(k)} THEN ${parse}`;
  }).join(' ')} END IS NOT NULL`;

/** Rows of `raw` with the column's text `v` and its shape, for values that have one (and parse as it). */
const shaped = (raw: string, v: string) =>
  `(SELECT * FROM (SELECT __line, v, ${lookOf('v')} AS shape FROM (SELECT __line, ${v} AS v FROM ${raw}) WHERE v IS NOT NULL)
    WHERE ${parsesAs('v', 'shape')})`;

/** A resolved parse: one of the shapes, or a strptime pattern list (declared, or the order found for slashes). */
export type TimestampParse = Shape | { patterns: string[] };

/** SQL parsing `v` (text) as a resolved column format. */
export function timestampExpr(v: string, p: TimestampParse): string {
  if (typeof p === 'object') return `try_strptime(${v}, [${p.patterns.map((x) => quoteLiteral(x)).join(', ')}])`;
  switch (p) {
    case 'epoch_ms':
      return `make_timestamp(TRY_CAST(${v} AS BIGINT) * 1000)`;
    case 'epoch_s':
      return `make_timestamp(TRY_CAST(${v} AS BIGINT) * 1000000)`;
    case 'yyyymmdd':
      return `try_strptime(${v}, '%Y%m%d')`;
    case 'iso':
      // Zone-less: read as written (UTC by convention), never through the TIMESTAMPTZ cast that leaks zones.
      return `TRY_CAST(${v} AS TIMESTAMP)`;
    default:
      return `CAST(TRY_CAST(${v} AS TIMESTAMPTZ) AS TIMESTAMP)`;
  }
}

type Row = { shape: string; n: number; line: number; value: string };

/**
 * Decides how the column `v` (SQL text expression over `raw`, named `column`) of `file` is parsed. Declared
 * strptime patterns are taken as they are; declared epoch units are checked against the values' magnitudes.
 */
export async function resolveTimestamps(
  conn: DuckDBConnection,
  f: { file: string; raw: string; v: string; column: string; format: string },
): Promise<TimestampParse> {
  const { file, raw, v, column, format } = f;
  if (format === 'epoch_ms' || format === 'epoch_s') {
    await checkEpochUnit(conn, f, format);
    return format;
  }
  if (format !== 'auto') return { patterns: [format] };
  const r = await conn.runAndReadAll(
    `SELECT shape, count(*), min(__line), arg_min(v, __line) FROM ${shaped(raw, v)} GROUP BY shape ORDER BY count(*) DESC, shape`,
  );
  const rows: Row[] = r
    .getRows()
    .map((x) => ({ shape: String(x[0]), n: Number(x[1]), line: Number(x[2]), value: String(x[3]) }));
  if (rows.length === 0) {
    await refuseFinerEpochs(conn, f);
    return 'iso';
  }
  if (rows.length > 1) {
    const [a, b] = rows;
    const say = (x: Row) =>
      `line ${x.line} "${x.value}" (${SHAPES[x.shape as Shape].say}, ${x.n} value${x.n === 1 ? '' : 's'})`;
    throw new ExtractError(
      `${file}: column "${column}" mixes timestamp formats: ${say(a)} and ${say(b)}. A column is parsed one way: ` +
        `give all its values one format and time zone, or declare "timestampFormat"`,
      file,
      column,
    );
  }
  const shape = rows[0].shape as Shape;
  return shape === 'slash' ? slashOrder(conn, f) : shape;
}

/** d/m/y or m/d/y, from values that can only be one of them; a column where neither or both occur is refused. */
async function slashOrder(
  conn: DuckDBConnection,
  f: { file: string; raw: string; v: string; column: string },
): Promise<TimestampParse> {
  const part = (i: number) => `TRY_CAST(split_part(v, '/', ${i}) AS INTEGER)`;
  const r = await conn.runAndReadAll(
    `SELECT min(__line) FILTER (WHERE ${part(1)} > 12), arg_min(v, __line) FILTER (WHERE ${part(1)} > 12),
            min(__line) FILTER (WHERE ${part(2)} > 12), arg_min(v, __line) FILTER (WHERE ${part(2)} > 12), arg_min(v, __line)
     FROM ${shaped(f.raw, f.v)} WHERE shape = 'slash'`,
  );
  const [dayLine, dayFirst, monthLine, monthFirst, example] = r.getRows()[0];
  const hint = `declare "timestampFormat" ("%d/%m/%Y %H:%M" or "%m/%d/%Y %H:%M", without the time if there is none)`;
  if (dayFirst != null && monthFirst != null)
    throw new ExtractError(
      `${f.file}: column "${f.column}" has dates in both day/month orders: line ${dayLine} "${dayFirst}" (day first) ` +
        `and line ${monthLine} "${monthFirst}" (month first); ${hint}`,
      f.file,
      f.column,
    );
  if (dayFirst == null && monthFirst == null)
    throw new ExtractError(
      `${f.file}: column "${f.column}": the day/month order of its dates is ambiguous (e.g. "${example}": no day ` +
        `above 12 tells which is which); ${hint}`,
      f.file,
      f.column,
    );
  const d = dayFirst != null ? '%d/%m/%Y' : '%m/%d/%Y';
  return { patterns: slashPatterns(d) };
}

/** Declared epoch units whose magnitudes say another unit are refused, with the unit they look like. */
async function checkEpochUnit(
  conn: DuckDBConnection,
  f: { file: string; raw: string; v: string; column: string },
  format: 'epoch_ms' | 'epoch_s',
): Promise<void> {
  // As ms, 1e8…1e11 is 1970-01-02…1973-03-03; as s the same numbers are 1973…5138: seconds, almost surely.
  // As s, ≥ 1e11 is after the year 5138: milliseconds (or finer).
  const wrong = format === 'epoch_ms' ? 'abs(n) >= 1e8 AND abs(n) < 1e11' : 'abs(n) >= 1e11';
  const r = await conn.runAndReadAll(
    `SELECT min(__line), arg_min(v, __line), count(*) FROM (SELECT __line, ${f.v} AS v, TRY_CAST(${f.v} AS DOUBLE) AS n FROM ${f.raw}) WHERE ${wrong}`,
  );
  const [line, value, n] = r.getRows()[0];
  if (Number(n) === 0) return;
  const other = format === 'epoch_ms' ? 'epoch_s' : 'epoch_ms';
  throw new ExtractError(
    `${f.file}: column "${f.column}" is declared ${format} but ${n} values look like ${other === 'epoch_s' ? 'seconds' : 'milliseconds'} ` +
      `(line ${line} "${value}"); set "timestampFormat": "${other}"`,
    f.file,
    f.column,
  );
}

/** A column of 14–19 digit numbers is epoch micro- or nanoseconds: refused with a hint, not quarantined row by row. */
async function refuseFinerEpochs(
  conn: DuckDBConnection,
  f: { file: string; raw: string; v: string; column: string },
): Promise<void> {
  const r = await conn.runAndReadAll(
    `SELECT min(__line), arg_min(v, __line), count(*) FROM (SELECT __line, ${f.v} AS v FROM ${f.raw}) WHERE regexp_full_match(v, '-?\\d{14,19}')`,
  );
  const [line, value, n] = r.getRows()[0];
  if (Number(n) === 0) return;
  const unit = String(value).replace('-', '').length > 16 ? 'nanoseconds' : 'microseconds';
  throw new ExtractError(
    `${f.file}: column "${f.column}" holds ${n} numbers too long for epoch seconds or milliseconds (line ${line} ` +
      `"${value}": epoch ${unit}?); convert them to milliseconds or ISO 8601 and declare "timestampFormat" if needed`,
    f.file,
    f.column,
  );
}
