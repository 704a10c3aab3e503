/**
 * Feature tables as Apache Arrow, for tools that read Arrow IPC files (pyarrow, polars, DuckDB, arrow-js) without
 * a Parquet reader. DuckDB reads the Parquet file; apache-arrow builds typed, nullable columns (Float64 features,
 * Int32 label, Utf8 ids) and writes the IPC file format. Written under a temporary name and renamed.
 */
import { Float64, Int32, Table, tableFromIPC, tableToIPC, Utf8, vectorFromArray, type Vector } from 'apache-arrow';
import { readFileSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { writeFileAtomic } from '../infra/atomic';
import { quoteLiteral } from './db';

/** A flat Parquet table (text, integer and floating columns) as an Arrow table, in file row order; nulls kept. */
export async function parquetToArrow(conn: DuckDBConnection, file: string): Promise<Table> {
  const r = await conn.runAndReadAll(`SELECT * FROM read_parquet(${quoteLiteral(file)})`);
  const names = r.columnNames();
  const types = r.columnTypes().map((t) => t.toString());
  const columns = r.getColumns();
  const vectors: Record<string, Vector> = {};
  names.forEach((name, j) => {
    const t = types[j];
    const values = columns[j];
    if (t === 'VARCHAR')
      vectors[name] = vectorFromArray(
        values.map((v) => (v == null ? null : String(v))),
        new Utf8(),
      );
    else if (['INTEGER', 'SMALLINT', 'TINYINT'].includes(t))
      vectors[name] = vectorFromArray(
        values.map((v) => (v == null ? null : Number(v))),
        new Int32(),
      );
    else if (['DOUBLE', 'FLOAT', 'BIGINT', 'HUGEINT', 'DECIMAL'].some((p) => t.startsWith(p)))
      vectors[name] = vectorFromArray(
        values.map((v) => (v == null ? null : Number(v))),
        new Float64(),
      );
    else throw new Error(`${file}: column "${name}" has type ${t}, which the Arrow export does not handle`);
  });
  return new Table(vectors);
}

export function writeArrowFile(table: Table, file: string): void {
  writeFileAtomic(file, tableToIPC(table, 'file'));
}

export function readArrowFile(file: string): Table {
  return tableFromIPC(readFileSync(file));
}
