/**
 * JSON sources (an array of objects, or one object per line) read as text. Every value is taken with
 * json_extract_string, so a numeric id among string ids is `5` and the strings stay `j0` (DuckDB's own reader typed
 * such a column JSON and cast it back with its quotes, `"j0"`, for every row). Each row lists in `__nonscalar` the
 * fields holding an object, array or boolean: those are no ids, and staging quarantines them.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { quoteIdent, quoteLiteral } from '../db';
import { ExtractError } from './types';

/** Longest JSON record loaded; a longer line is quarantined whole (a 10 MB line is no event). */
const MAX_RECORD = 1_000_000;

export async function readJson(
  conn: DuckDBConnection,
  file: string,
  format: 'json' | 'ndjson',
  raw: string,
  rejects: string,
): Promise<{ raw: string; rejects: string; columns: string[] }> {
  const path = quoteLiteral(file);
  const lines = `${raw}_l`;
  try {
    await conn.run(
      format === 'ndjson'
        ? // One object per line, read as lines so a broken line is quarantined with its number, not skipped.
          `CREATE TEMP TABLE ${lines} AS SELECT j, row_number() OVER () AS __line FROM read_csv(${path}, auto_detect=false,
           header=false, columns={'j': 'VARCHAR'}, delim='\x1e', quote='', escape='', max_line_size=64000000)`
        : `CREATE TEMP TABLE ${lines} AS SELECT CAST(json AS VARCHAR) AS j, row_number() OVER () AS __line
           FROM read_json_objects(${path}, format='auto', maximum_object_size=64000000)`,
    );
  } catch (e) {
    throw new ExtractError(`cannot read ${file} as ${format}: ${(e as Error).message.split('\n')[0]}`, file);
  }
  const bad = `length(j) > ${MAX_RECORD} OR NOT coalesce(json_valid(j), false) OR json_type(j) <> 'OBJECT'`;
  await conn.run(
    `INSERT INTO ${rejects} SELECT __line, NULL,
       CASE WHEN length(j) > ${MAX_RECORD} THEN 'malformed JSON line: longer than ${MAX_RECORD} characters'
            WHEN NOT coalesce(json_valid(j), false) THEN 'malformed JSON line' ELSE 'malformed JSON line: not an object' END,
       left(j, 2000)
     FROM ${lines} WHERE (${bad}) AND trim(j) <> ''`,
  );
  await conn.run(`DELETE FROM ${lines} WHERE ${bad}`);
  const keys = await conn.runAndReadAll(
    // In the order the first record holding them lists them (quarantine.raw shows fields in file order).
    `SELECT k FROM (SELECT unnest(json_keys(j)) AS k, generate_subscripts(json_keys(j), 1) AS i, __line FROM ${lines})
     GROUP BY k ORDER BY min(__line), min(i), k LIMIT 1000`,
  );
  const columns = keys.getRows().map((r) => String(r[0]));
  const pathOf = (c: string) => quoteLiteral(`$."${c.replace(/"/g, '')}"`);
  const values = columns.map((c) => `json_extract_string(j, ${pathOf(c)}) AS ${quoteIdent(c)}`);
  const kinds = columns.map(
    (c) => `CASE WHEN json_type(j, ${pathOf(c)}) IN ('OBJECT', 'ARRAY', 'BOOLEAN') THEN ${quoteLiteral(c)} END`,
  );
  await conn.run(
    `CREATE TEMP TABLE ${raw} AS SELECT ${[...values, ''].join(', ')}
       list_filter([${kinds.join(', ')}]::VARCHAR[], x -> x IS NOT NULL) AS __nonscalar, __line FROM ${lines}`,
  );
  await conn.run(`DROP TABLE ${lines}`);
  return { raw, rejects, columns };
}
