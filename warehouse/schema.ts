import type { DuckDBConnection } from '@duckdb/node-api';

/**
 * The canonical warehouse tables: every source, whatever its format and column names, lands in these.
 * `row_key` is a hash of the event's content, used with a full comparison to find exact duplicates fast.
 */
export const WAREHOUSE_DDL = [
  `CREATE TABLE IF NOT EXISTS events (
     user_id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, event VARCHAR NOT NULL, item_id VARCHAR, revenue DOUBLE,
     session_id VARCHAR, properties JSON, source_file VARCHAR NOT NULL, source_line BIGINT NOT NULL, row_key UBIGINT NOT NULL)`,
  // One row per user and valid-from time (NULL for static attributes): features read the row valid at the cutoff.
  `CREATE TABLE IF NOT EXISTS customers (user_id VARCHAR NOT NULL, valid_from TIMESTAMP, attributes JSON, source_file VARCHAR, source_line BIGINT)`,
  // Explicit outcomes with their time: a run at cutoff T counts those in [T, T + horizon).
  `CREATE TABLE IF NOT EXISTS labels (user_id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, label INTEGER NOT NULL, source_file VARCHAR, source_line BIGINT)`,
  `CREATE TABLE IF NOT EXISTS quarantine (
     source VARCHAR NOT NULL, file VARCHAR NOT NULL, line BIGINT, column_name VARCHAR, reason VARCHAR NOT NULL, raw VARCHAR,
     quarantined_at TIMESTAMP DEFAULT current_timestamp)`,
  `CREATE TABLE IF NOT EXISTS source_files (
     source VARCHAR NOT NULL, file VARCHAR NOT NULL, size BIGINT NOT NULL, sha256 VARCHAR NOT NULL, rows_read BIGINT NOT NULL,
     loaded BIGINT NOT NULL, duplicates BIGINT NOT NULL, quarantined BIGINT NOT NULL, last_line BIGINT NOT NULL,
     loaded_at TIMESTAMP DEFAULT current_timestamp)`,
];

/** Side tables of older warehouses that lack the point-in-time column (and what it is called now). */
const TIMED = { customers: 'valid_from', labels: 'ts' } as const;

export async function ensureWarehouseSchema(conn: DuckDBConnection): Promise<void> {
  for (const ddl of WAREHOUSE_DDL) await conn.run(ddl);
  // A warehouse made before side tables had times: drop those tables and forget their files, so the next extract
  // loads them again with times (the source data is intact; keeping untimed rows would leak the future).
  for (const [table, column] of Object.entries(TIMED)) {
    const r = await conn.runAndReadAll(
      `SELECT count(*) FILTER (WHERE column_name = $c), count(*) FROM duckdb_columns() WHERE table_name = $t AND database_name = current_database() AND schema_name = 'main'`,
      { c: column, t: table },
    );
    const [timed, any] = r.getRows()[0].map(Number);
    if (any > 0 && timed === 0) {
      await conn.run(`DROP TABLE ${table}`);
      await conn.run(`DELETE FROM source_files WHERE source = $s`, { s: table });
      await conn.run(`DELETE FROM quarantine WHERE source = $s`, { s: table });
      await conn.run(WAREHOUSE_DDL.find((d) => d.includes(`EXISTS ${table} (`))!);
    }
  }
}
