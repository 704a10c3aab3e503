import {
  DOUBLE,
  DuckDBAppender,
  DuckDBConnection,
  DuckDBDataChunk,
  INTEGER,
  VARCHAR,
  type DuckDBValue,
} from '@duckdb/node-api';
import { rmSync } from 'node:fs';
import { commitTemp, tempNameFor, throwIfCancelled, type Writer } from '../infra/atomic';
import { quoteIdent, quoteLiteral } from './db';

export type ColumnData =
  | { name: string; type: 'VARCHAR'; values: ArrayLike<string> }
  | { name: string; type: 'DOUBLE'; values: ArrayLike<number> }
  | { name: string; type: 'INTEGER'; values: ArrayLike<number> };

/**
 * Writes in-memory columns (scores, predictions) to Parquet through DuckDB's appender, then COPY to a temp file
 * and rename, so readers never see a half-written file and the bytes are the same for the same input. The temp
 * name is the writer's own (two attempts of one step never share it), and a cancelled writer stops before the
 * rename and removes its temp.
 */
export async function writeColumnsToParquet(
  conn: DuckDBConnection,
  file: string,
  columns: ColumnData[],
  writer: Writer = {},
): Promise<void> {
  throwIfCancelled(file, writer);
  const table = `tmp_write_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  await conn.run(`CREATE TABLE ${table} (${columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ')})`);
  const tmp = tempNameFor(file, writer);
  try {
    const appender: DuckDBAppender = await conn.createAppender(table);
    appendColumns(appender, columns);
    appender.closeSync();
    throwIfCancelled(file, writer);
    await conn.run(`COPY (SELECT * FROM ${table}) TO ${quoteLiteral(tmp)} (FORMAT parquet, COMPRESSION zstd)`);
    commitTemp(tmp, file, writer);
  } finally {
    rmSync(tmp, { force: true });
    await conn.run(`DROP TABLE IF EXISTS ${table}`);
  }
}

/** Rows per data chunk: DuckDB's vector size. */
const CHUNK_ROWS = 2048;

/**
 * Appends in-memory columns through data chunks of 2048 rows: the values are set in JS and each column is copied
 * over once per chunk, where appending value by value crossed into native code for every value (at 4.3 M users ×
 * 8 columns that was most of the time the score step spent writing; issue 17). Non-finite numbers become NULL.
 */
export function appendColumns(appender: DuckDBAppender, columns: ColumnData[]): void {
  const types = columns.map((c) => (c.type === 'VARCHAR' ? VARCHAR : c.type === 'DOUBLE' ? DOUBLE : INTEGER));
  const n = columns[0]?.values.length ?? 0;
  const values = new Array<DuckDBValue>(CHUNK_ROWS);
  for (let s = 0; s < n; s += CHUNK_ROWS) {
    const m = Math.min(CHUNK_ROWS, n - s);
    const chunk = DuckDBDataChunk.create(types, m);
    values.length = m;
    columns.forEach((c, j) => {
      const v = c.values;
      if (c.type === 'DOUBLE') for (let k = 0; k < m; k++) values[k] = Number.isFinite(v[s + k]) ? v[s + k] : null;
      else for (let k = 0; k < m; k++) values[k] = v[s + k];
      chunk.setColumnValues(j, values);
    });
    appender.appendDataChunk(chunk);
  }
}
