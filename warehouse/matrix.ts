/**
 * Feature tables (Parquet, CSV/TSV, gzipped or not) → the column-major FeatureMatrix the models train on.
 * DuckDB reads and types the file; numeric columns become Float32Arrays (NULL → NaN), text columns are one-hot
 * encoded over their most frequent values, and the label is read as 1/0, yes/no or true/false. The encoding
 * is returned so scoring applies exactly the same columns.
 */
import type { DuckDBConnection, DuckDBDataChunk } from '@duckdb/node-api';
import { checkMemory } from '../infra/memory';
import type { FeatureMatrix } from '../ml/classifier';
import { quoteIdent, quoteLiteral } from './db';

export type EncodedColumn =
  { name: string; kind: 'numeric'; source: string } | { name: string; kind: 'onehot'; source: string; value: string };

export interface FeatureEncoding {
  columns: EncodedColumn[];
}

export interface FeatureTable {
  x: FeatureMatrix;
  y: Uint8Array | null;
  ids: string[];
  encoding: FeatureEncoding;
}

export interface ReadOptions {
  label?: string;
  idColumn?: string;
  exclude?: string[];
  delimiter?: string;
  /** Apply a known encoding (scoring) instead of inferring one (training). */
  encoding?: FeatureEncoding;
  /** One-hot at most this many values per text column (the rest share no column). */
  maxCategories?: number;
}

export class FeatureTableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

const NUMERIC =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|DECIMAL.*|BOOLEAN)$/;
const TRUE_VALUES = `('1', 'true', 'yes', 'y', 't')`;
const FALSE_VALUES = `('0', 'false', 'no', 'n', 'f')`;

function relation(file: string, delimiter?: string): string {
  const f = file.toLowerCase().replace(/\.gz$/, '');
  if (f.endsWith('.parquet')) return `read_parquet(${quoteLiteral(file)})`;
  const delim = delimiter ?? (f.endsWith('.tsv') ? '\t' : ',');
  return `read_csv(${quoteLiteral(file)}, delim=${quoteLiteral(delim)}, header=true, sample_size=-1)`;
}

/** What one feature table's query yields: `__id, __label, c0 … c(k−1)` in file order, and its row count. */
export interface FeatureQuery {
  sql: string;
  encoding: FeatureEncoding;
  /** Rows of the table. */
  n: number;
  /** The temporary view over the file (with `__row`, 1-based), alive during the callback. */
  view: string;
  /** The SQL expression of each encoded column, over the view. */
  exprs: string[];
}

/**
 * Opens a feature table as a query (validating the label and applying or inferring the encoding) and runs `fn`
 * on it; nothing is read into memory here, so callers stream the rows in chunks.
 */
export async function withFeatureQuery<T>(
  conn: DuckDBConnection,
  file: string,
  opts: ReadOptions,
  fn: (q: FeatureQuery) => Promise<T>,
): Promise<T> {
  const rel = relation(file, opts.delimiter);
  const view = `ft_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  try {
    await conn.run(`CREATE TEMP VIEW ${view} AS SELECT *, row_number() OVER () AS __row FROM ${rel}`);
  } catch (e) {
    throw new FeatureTableError(`cannot read ${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  try {
    const desc = (await conn.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE ${view})`))
      .getRows()
      .map((r) => [String(r[0]), String(r[1])] as const);
    const names = desc.map(([n]) => n).filter((n) => n !== '__row');
    if (opts.label && !names.includes(opts.label)) {
      throw new FeatureTableError(`${file} has no label column "${opts.label}"; its columns are: ${names.join(', ')}`);
    }
    const skip = new Set([opts.label, opts.idColumn, '__row', ...(opts.exclude ?? [])].filter(Boolean) as string[]);
    const encoding =
      opts.encoding ??
      (await inferEncoding(
        conn,
        file,
        view,
        desc.filter(([n]) => !skip.has(n)),
        opts.maxCategories ?? 20,
      ));

    const exprs = encoding.columns.map((c) => {
      if (!names.includes(c.source))
        throw new FeatureTableError(`${file} lacks the column "${c.source}" the model was trained with`);
      // NULL is NaN already in SQL: every value of the column is then valid, and chunkDoubles reads DuckDB's buffer.
      return c.kind === 'numeric'
        ? `coalesce(CAST(TRY_CAST(${quoteIdent(c.source)} AS DOUBLE) AS DOUBLE), CAST('NaN' AS DOUBLE))`
        : `CASE WHEN CAST(${quoteIdent(c.source)} AS VARCHAR) = ${quoteLiteral(c.value)} THEN 1.0 ELSE 0.0 END`;
    });
    const labelExpr = opts.label
      ? `CASE WHEN lower(trim(CAST(${quoteIdent(opts.label)} AS VARCHAR))) IN ${TRUE_VALUES} THEN 1 WHEN lower(trim(CAST(${quoteIdent(opts.label)} AS VARCHAR))) IN ${FALSE_VALUES} THEN 0 END`
      : 'NULL';
    if (opts.label) {
      const bad = (
        await conn.runAndReadAll(
          `SELECT __row, CAST(${quoteIdent(opts.label)} AS VARCHAR) FROM ${view} WHERE (${labelExpr}) IS NULL LIMIT 1`,
        )
      ).getRows()[0];
      if (bad)
        throw new FeatureTableError(
          `${file}, row ${bad[0]}, column "${opts.label}": label "${bad[1]}" is not 1/0, yes/no or true/false`,
        );
    }
    const idExpr =
      opts.idColumn && names.includes(opts.idColumn)
        ? `CAST(${quoteIdent(opts.idColumn)} AS VARCHAR)`
        : `CAST(__row AS VARCHAR)`;
    const n = Number((await conn.runAndReadAll(`SELECT count(*) FROM ${view}`)).getRows()[0][0]);
    // File order without ORDER BY: DuckDB keeps insertion order (preserve_insertion_order), and a sort here would
    // make DuckDB hold the whole table before the first row comes out.
    const sql = `SELECT ${idExpr} AS __id, ${labelExpr} AS __label${exprs.map((e, j) => `, ${e} AS c${j}`).join('')} FROM ${view}`;
    return await fn({ sql, encoding, n, view, exprs });
  } finally {
    await conn.run(`DROP VIEW IF EXISTS ${view}`);
  }
}

/** Streams a query's result chunk by chunk (2,048 rows each): `onChunk(chunk, firstRow)`. */
export async function streamChunks(
  conn: DuckDBConnection,
  sql: string,
  onChunk: (chunk: DuckDBDataChunk, at: number) => void,
): Promise<number> {
  const result = await conn.stream(sql);
  let at = 0;
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    onChunk(chunk, at);
    at += chunk.rowCount;
  }
  return at;
}

/**
 * A DOUBLE column of a chunk whose values are never NULL (the feature expressions above turn NULL into NaN), as
 * numbers. DuckDB's own Float64 buffer of the vector when the client exposes it: getColumnValues built a boxed
 * array per column and chunk, and converting those took half the CPU of reading a 3.2 M-row table (10 of 18 s).
 * The buffer is valid until the next chunk is fetched: callers copy or bin it before.
 */
export function chunkDoubles(chunk: DuckDBDataChunk, j: number): ArrayLike<number> {
  const vector = chunk.getColumnVector(j);
  const items = (vector as unknown as { items?: unknown }).items;
  if (items instanceof Float64Array && items.length === chunk.rowCount) return items;
  return chunk.getColumnValues(j).map((x) => (x == null ? NaN : Number(x))); // another client version: boxed
}

/**
 * The DOUBLE columns of a query (never NULL: coalesce in the SQL) as Float64Arrays, chunk by chunk. runAndReadAll
 * then getColumns converted every value in one synchronous stretch on the caller's thread: 0.3–0.9 s for the
 * 643 k held-out rows of a 10 M run, on the worker's main thread (finishRun). Here each await yields.
 */
export async function readDoubles(conn: DuckDBConnection, sql: string, columns: number): Promise<Float64Array[]> {
  const parts: Float64Array[][] = Array.from({ length: columns }, () => []);
  const n = await streamChunks(conn, sql, (chunk) => {
    for (let j = 0; j < columns; j++) parts[j].push(Float64Array.from(chunkDoubles(chunk, j)));
  });
  return parts.map((chunks) => {
    const out = new Float64Array(n);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  });
}

/** Bytes a JS string id takes with its slot in an array (header, short payload, pointer): an estimate. */
export const ID_BYTES = 48;

/** The error for a label column with one class only (a model needs both), or null. */
export function singleClassError(file: string, label: string, y: Uint8Array): FeatureTableError | null {
  let pos = 0;
  for (let i = 0; i < y.length; i++) pos += y[i];
  if (pos > 0 && pos < y.length) return null;
  return new FeatureTableError(
    `${file}: the label "${label}" has a single class (${pos === 0 ? 'all 0' : 'all 1'}); a model needs both`,
  );
}

/**
 * The whole table as Float32 columns, streamed from DuckDB chunk by chunk (never a second, boxed copy of it).
 * Refuses before allocating when the columns would not fit the memory budget (FUNNELCAST_MEMORY).
 */
export async function readFeatureTable(
  conn: DuckDBConnection,
  file: string,
  opts: ReadOptions = {},
): Promise<FeatureTable> {
  return withFeatureQuery(conn, file, opts, async (q) => {
    const n = q.n;
    const nF = q.encoding.columns.length;
    checkMemory(`${file} (${n} rows × ${nF} columns as Float32)`, n * (4 * nF + 1 + ID_BYTES), 'sample the table');
    const columns = q.encoding.columns.map(() => new Float32Array(n));
    const ids = new Array<string>(n);
    const y = opts.label ? new Uint8Array(n) : null;
    const read = await streamChunks(conn, q.sql, (chunk, at) => {
      const id = chunk.getColumnValues(0);
      for (let r = 0; r < id.length; r++) ids[at + r] = String(id[r]);
      if (y) {
        const lab = chunk.getColumnValues(1);
        for (let r = 0; r < lab.length; r++) y[at + r] = Number(lab[r]);
      }
      for (let j = 0; j < nF; j++) {
        columns[j].set(chunkDoubles(chunk, j + 2), at);
      }
    });
    if (read !== n) throw new Error(`${file}: read ${read} rows, expected ${n}`);
    const single = y && singleClassError(file, opts.label!, y);
    if (single) throw single;
    return { x: { nRows: n, names: q.encoding.columns.map((c) => c.name), columns }, y, ids, encoding: q.encoding };
  });
}

async function inferEncoding(
  conn: DuckDBConnection,
  file: string,
  view: string,
  cols: (readonly [string, string])[],
  maxCategories: number,
): Promise<FeatureEncoding> {
  const out: EncodedColumn[] = [];
  for (const [name, type] of cols) {
    if (NUMERIC.test(type)) {
      out.push({ name, kind: 'numeric', source: name });
      continue;
    }
    // Text: numbers with a few junk values are an error (name the row); real categories are one-hot encoded.
    const q = quoteIdent(name);
    const [nonNull, numeric] = (
      await conn.runAndReadAll(`SELECT count(${q}), count(TRY_CAST(${q} AS DOUBLE)) FROM ${view}`)
    )
      .getRows()[0]
      .map(Number);
    if (nonNull > 0 && numeric / nonNull >= 0.9 && numeric < nonNull) {
      const bad = (
        await conn.runAndReadAll(
          `SELECT __row, ${q} FROM ${view} WHERE ${q} IS NOT NULL AND TRY_CAST(${q} AS DOUBLE) IS NULL LIMIT 1`,
        )
      ).getRows()[0];
      throw new FeatureTableError(
        `${file}, row ${bad[0]}, column "${name}": "${bad[1]}" is not a number (the column is otherwise numeric)`,
      );
    }
    if (nonNull > 0 && numeric === nonNull) {
      out.push({ name, kind: 'numeric', source: name });
      continue;
    }
    const top = await conn.runAndReadAll(
      `SELECT CAST(${q} AS VARCHAR) v FROM ${view} WHERE ${q} IS NOT NULL GROUP BY v ORDER BY count(*) DESC, v LIMIT ${maxCategories}`,
    );
    for (const [v] of top.getRows())
      out.push({ name: `${name}=${String(v)}`, kind: 'onehot', source: name, value: String(v) });
  }
  if (out.length === 0) throw new FeatureTableError(`${file} has no feature columns besides the label and id`);
  return { columns: out };
}
