/**
 * Events: validated rows into `events`, with exact duplicates dropped. Duplicates are counted by their own query
 * before anything is inserted, and the rows loaded by what the insert added to the table, so that a row lost
 * between staging and load breaks `read = loaded + duplicates + quarantined` instead of hiding as a duplicate.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { EventsSource } from '../../pipelines/schema';
import { scalar, tmpName } from './read';
import { stageEvents } from './stage';

export interface StagedEvents {
  stage: string;
  bad: string;
  repeated: string;
  /** Events in the warehouse before this file. */
  before: number;
  /** Valid rows that repeat an earlier row of the file or a row already in the warehouse. */
  duplicates: number;
  /** Temp tables to drop afterwards. */
  tables: string[];
}

/** The columns that make two events the same event (the row key hashes the same ones). */
const CONTENT = `user_id, ts, event, item_id, revenue, session_id, CAST(properties AS VARCHAR) AS props, row_key`;

/**
 * Validation, rejects and duplicate detection on temp tables before the transaction (a temp table created inside
 * it is transaction-local storage, several times slower to build and scan at 10M rows); the transaction holds
 * only the inserts, so a crash still never leaves half a file behind. Drops `raw` once the rejects are copied.
 */
export async function prepareEvents(
  conn: DuckDBConnection,
  file: string,
  spec: EventsSource,
  raw: { raw: string; columns: string[] },
  futureAfter: Date,
  skipBefore: number,
): Promise<StagedEvents> {
  const { stage, rawText } = await stageEvents(conn, file, spec, raw.raw, raw.columns, futureAfter, skipBefore);
  const bad = tmpName('bad');
  const repeated = tmpName('rep');
  const tables = [stage, bad, repeated];
  await conn.run(
    `CREATE TEMP TABLE ${bad} AS SELECT s.__line, s.bad_column, s.reason, left(${rawText}, 2000) AS raw
     FROM ${stage} s JOIN ${raw.raw} r USING (__line) WHERE s.reason IS NOT NULL`,
  );
  await conn.run(`DROP TABLE ${raw.raw}`);
  // Exact duplicates: the first occurrence in the file wins; rows already in the warehouse are not added again.
  // `row_key` hashes the whole row, so only rows whose key repeats (few) need the full comparison: a hash
  // aggregate over every column (NULLs equal). The check against the warehouse runs only when it holds events.
  const before = await scalar(conn, `SELECT count(*) FROM events`);
  await conn.run(
    `CREATE TEMP TABLE ${repeated} AS SELECT row_key FROM ${stage} WHERE reason IS NULL GROUP BY row_key HAVING count(*) > 1
     ${before === 0 ? '' : `UNION SELECT row_key FROM events WHERE row_key IN (SELECT row_key FROM ${stage})`}`,
  );
  const duplicates = await countDuplicates(conn, stage, repeated, before);
  return { stage, bad, repeated, before, duplicates, tables };
}

/**
 * Duplicates, counted on their own: rows of the file equal to an earlier row of the file (all but one of each
 * group of equal rows), plus the distinct rows equal to one already in the warehouse. Equal rows have equal row
 * keys, so only rows whose key repeats are compared.
 */
async function countDuplicates(conn: DuckDBConnection, stage: string, repeated: string, before: number) {
  const candidates = `SELECT ${CONTENT} FROM ${stage} WHERE reason IS NULL AND row_key IN (SELECT row_key FROM ${repeated})`;
  const inFile = await scalar(
    conn,
    `SELECT (SELECT count(*) FROM (${candidates})) - (SELECT count(*) FROM (SELECT DISTINCT * FROM (${candidates})))`,
  );
  if (before === 0) return inFile;
  const inWarehouse = await scalar(
    conn,
    `SELECT count(*) FROM (SELECT DISTINCT * FROM (${candidates})) s WHERE EXISTS (${sameEvent})`,
  );
  return inFile + inWarehouse;
}

/** An event in the warehouse equal to `s` in every column (NULLs equal). */
const sameEvent = `SELECT 1 FROM events e WHERE e.row_key = s.row_key AND e.user_id = s.user_id AND e.ts = s.ts AND e.event = s.event
  AND e.item_id IS NOT DISTINCT FROM s.item_id AND e.revenue IS NOT DISTINCT FROM s.revenue
  AND e.session_id IS NOT DISTINCT FROM s.session_id AND CAST(e.properties AS VARCHAR) IS NOT DISTINCT FROM s.props`;

/** Inserts the file's quarantined rows and its new events (inside the caller's transaction). */
export async function insertEvents(conn: DuckDBConnection, file: string, staged: StagedEvents): Promise<void> {
  const { stage, bad, repeated, before } = staged;
  await conn.run(
    `INSERT INTO quarantine (source, file, line, column_name, reason, raw) SELECT 'events', $f, __line, bad_column, reason, raw FROM ${bad}`,
    { f: file },
  );
  await conn.run(
    `INSERT INTO events
     SELECT user_id, ts, event, item_id, revenue, session_id, properties, $f, __line, row_key FROM ${stage}
     WHERE reason IS NULL AND row_key NOT IN (SELECT row_key FROM ${repeated})
     UNION ALL
     SELECT user_id, ts, event, item_id, revenue, session_id, CAST(props AS JSON), $f, __line, row_key FROM (
       SELECT min(__line) AS __line, row_key, user_id, ts, event, item_id, revenue, session_id, CAST(properties AS VARCHAR) AS props
       FROM ${stage} WHERE reason IS NULL AND row_key IN (SELECT row_key FROM ${repeated}) GROUP BY ALL) s
     ${before === 0 ? '' : `WHERE NOT EXISTS (${sameEvent})`}`,
    { f: file },
  );
}
