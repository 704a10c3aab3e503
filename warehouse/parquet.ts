import { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
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
    throwIfCancelled(file, writer);
    await conn.run(`COPY (SELECT * FROM ${table}) TO ${quoteLiteral(tmp)} (FORMAT parquet, COMPRESSION zstd)`);
    commitTemp(tmp, file, writer);
  } finally {
    rmSync(tmp, { force: true });
    await conn.run(`DROP TABLE IF EXISTS ${table}`);
  }
}
