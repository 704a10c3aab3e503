import type { DuckDBConnection } from '@duckdb/node-api';

/**
 * The canonical warehouse tables: every source, whatever its format and column names, lands in these.
 * `row_key` is a hash of the event's content, used with a full comparison to find exact duplicates fast.
 */
export const WAREHOUSE_DDL = [
  `CREATE TABLE IF NOT EXISTS events (
     user_id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, event VARCHAR NOT NULL, item_id VARCHAR, revenue DOUBLE,
     session_id VARCHAR, properties JSON, source_file VARCHAR NOT NULL, source_line BIGINT NOT NULL, row_key UBIGINT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS customers (user_id VARCHAR PRIMARY KEY, attributes JSON, source_file VARCHAR, source_line BIGINT)`,
  `CREATE TABLE IF NOT EXISTS labels (user_id VARCHAR PRIMARY KEY, label INTEGER NOT NULL, source_file VARCHAR, source_line BIGINT)`,
  `CREATE TABLE IF NOT EXISTS quarantine (
     source VARCHAR NOT NULL, file VARCHAR NOT NULL, line BIGINT, column_name VARCHAR, reason VARCHAR NOT NULL, raw VARCHAR,
     quarantined_at TIMESTAMP DEFAULT current_timestamp)`,
  `CREATE TABLE IF NOT EXISTS source_files (
     source VARCHAR NOT NULL, file VARCHAR NOT NULL, size BIGINT NOT NULL, sha256 VARCHAR NOT NULL, rows_read BIGINT NOT NULL,
     loaded BIGINT NOT NULL, duplicates BIGINT NOT NULL, quarantined BIGINT NOT NULL, last_line BIGINT NOT NULL,
     loaded_at TIMESTAMP DEFAULT current_timestamp)`,
];

export async function ensureWarehouseSchema(conn: DuckDBConnection): Promise<void> {
  for (const ddl of WAREHOUSE_DDL) await conn.run(ddl);
}
