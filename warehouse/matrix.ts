/**
 * Feature tables (Parquet, CSV/TSV, gzipped or not) → the column-major FeatureMatrix the models train on.
 * DuckDB reads and types the file; numeric columns become Float32Arrays (NULL → NaN), text columns are one-hot
 * encoded over their most frequent values, and the label is read as 1/0, yes/no or true/false. The encoding
 * is returned so scoring applies exactly the same columns.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
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

export async function readFeatureTable(
  conn: DuckDBConnection,
  file: string,
  opts: ReadOptions = {},
): Promise<FeatureTable> {
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
      return c.kind === 'numeric'
        ? `CAST(TRY_CAST(${quoteIdent(c.source)} AS DOUBLE) AS DOUBLE)`
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
    const reader = await conn.runAndReadAll(
      `SELECT ${idExpr} AS __id, ${labelExpr} AS __label${exprs.map((e, j) => `, ${e} AS c${j}`).join('')} FROM ${view} ORDER BY __row`,
    );
    const cols = reader.getColumns();
    const n = reader.currentRowCount;
    const columns = encoding.columns.map((_, j) => {
      const src = cols[j + 2];
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const v = src[i];
        out[i] = v == null ? NaN : Number(v);
      }
      return out;
    });
    const ids = cols[0].map((v) => String(v));
    let y: Uint8Array | null = null;
    if (opts.label) {
      y = new Uint8Array(n);
      let pos = 0;
      for (let i = 0; i < n; i++) pos += y[i] = Number(cols[1][i]);
      if (pos === 0 || pos === n)
        throw new FeatureTableError(
          `${file}: the label "${opts.label}" has a single class (${pos === 0 ? 'all 0' : 'all 1'}); a model needs both`,
        );
    }
    return { x: { nRows: n, names: encoding.columns.map((c) => c.name), columns }, y, ids, encoding };
  } finally {
    await conn.run(`DROP VIEW IF EXISTS ${view}`);
  }
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
