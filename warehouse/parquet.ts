import { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
import { renameSync, rmSync } from 'node:fs';
import { quoteIdent, quoteLiteral } from './db';

export type ColumnData =
  | { name: string; type: 'VARCHAR'; values: ArrayLike<string> }
  | { name: string; type: 'DOUBLE'; values: ArrayLike<number> }
  | { name: string; type: 'INTEGER'; values: ArrayLike<number> };

/**
 * Writes in-memory columns (scores, predictions) to Parquet through DuckDB's appender, then COPY to a temp file
 * and rename, so readers never see a half-written file and the bytes are the same for the same input.
 */
export async function writeColumnsToParquet(
  conn: DuckDBConnection,
  file: string,
  columns: ColumnData[],
): Promise<void> {
  const table = `tmp_write_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  await conn.run(`CREATE TABLE ${table} (${columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ')})`);
  try {
    const appender: DuckDBAppender = await conn.createAppender(table);
    const n = columns[0]?.values.length ?? 0;
    for (let i = 0; i < n; i++) {
      for (const c of columns) {
        const v = c.values[i];
        if (c.type === 'VARCHAR') appender.appendVarchar(v as string);
        else if (c.type === 'INTEGER') appender.appendInteger(v as number);
        else if (Number.isFinite(v as number)) appender.appendDouble(v as number);
        else appender.appendNull();
      }
      appender.endRow();
    }
    appender.closeSync();
    const tmp = `${file}.tmp-${process.pid}`;
    rmSync(tmp, { force: true });
    await conn.run(`COPY (SELECT * FROM ${table}) TO ${quoteLiteral(tmp)} (FORMAT parquet, COMPRESSION zstd)`);
    renameSync(tmp, file);
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${table}`);
  }
}
