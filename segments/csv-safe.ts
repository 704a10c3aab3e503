/**
 * Campaign lists are opened in spreadsheets, which evaluate a cell starting with `=`, `+`, `-`, `@`, tab or carriage
 * return as a formula: a user id or customer attribute like `=HYPERLINK(…)` would run in the marketer's sheet (CSV
 * injection). Following OWASP's rule, such text cells get a leading `'` in the CSV export only, which spreadsheets
 * show as text; the Parquet export keeps every value exact for programs. Numbers are not text and stay as they are.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { quoteIdent } from '../warehouse/db';

/** The OWASP list of characters a spreadsheet formula may start with. */
export const FORMULA_START = /^[=+\-@\t\r]/;

/** The CSV cell a text value becomes (the same rule as the SQL below, for readers and tests). */
export function neutraliseFormula(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/** A SELECT of `table` for the CSV export: text columns that start like a formula are prefixed with `'`. */
export async function csvSafeSelect(conn: DuckDBConnection, table: string): Promise<string> {
  const columns = (await conn.runAndReadAll(`DESCRIBE ${quoteIdent(table)}`)).getRows();
  const list = columns.map(([name, type]) => {
    const col = quoteIdent(String(name));
    return String(type) === 'VARCHAR'
      ? `CASE WHEN regexp_matches(${col}, '^[=+\\-@\\t\\r]') THEN '''' || ${col} ELSE ${col} END AS ${col}`
      : col;
  });
  return `SELECT ${list.join(', ')} FROM ${quoteIdent(table)}`;
}
