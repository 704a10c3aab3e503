import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Explicit DuckDB lifecycle, as in duckdb-node-neo's own examples: open, use one connection for one unit of
 * work, close in `finally`. We do not keep the database open between activities, because DuckDB allows one
 * writer process per file and the CLI (`funnelcast extract`, `features`) may open it while no run is active.
 */
export async function withDuckDB<T>(file: string, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const instance = await DuckDBInstance.create(file);
  const conn = await instance.connect();
  try {
    return await fn(conn);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/** Double-quotes an identifier that came from configuration (already validated by the pipeline schema). */
export function quoteIdent(name: string): string {
  if (name.length === 0 || name.length > 128 || /[\u0000-\u001f"]/.test(name)) {
    throw new Error(`refusing identifier ${JSON.stringify(name)}: empty, too long, or holds quotes/control characters`);
  }
  return `"${name}"`;
}

/**
 * A string literal for the few places DuckDB cannot bind a parameter (file paths in COPY … TO and
 * read_csv(…) table functions). Quotes are doubled and control characters refused.
 */
export function quoteLiteral(value: string): string {
  // Tab is allowed (TSV delimiters); other control characters never belong in a path or option.
  if (/[\u0000-\u0008\u000a-\u001f]/.test(value)) throw new Error(`refusing literal with control characters: ${JSON.stringify(value)}`);
  return `'${value.replace(/'/g, "''")}'`;
}

/** DuckDB rejects bound values the statement does not use: keep only the `$name`s that appear in the SQL. */
export function usedParams<T>(sql: string, params: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(params).filter(([k]) => new RegExp(`\\$${k}(?![A-Za-z0-9_])`).test(sql)));
}
