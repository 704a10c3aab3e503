/** One source file into the warehouse, in one transaction, with its row accounting checked. */
import { rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { CustomersSource, EventsSource, LabelsSource } from '../../pipelines/schema';
import { insertEvents, prepareEvents, type StagedEvents } from './events';
import { digestFile, isGzip, verifyCompression } from './inspect';
import { inferFormat, readRaw, scalar, tmpName } from './read';
import { loadSideTable } from './side';
import { ExtractError, type AnySource, type ExtractHooks, type FileReport, type SourceName } from './types';

/**
 * Every term of `read = loaded + duplicates + quarantined` is measured on its own: read from the file's records,
 * loaded from what the inserts added, quarantined from what reached the quarantine table, duplicates by their own
 * query. A mismatch means rows were lost (or invented) on the way: a bug, so the file's transaction is undone.
 */
export function checkAccounting(
  file: string,
  c: { read: number; loaded: number; duplicates: number; quarantined: number },
) {
  if (c.read !== c.loaded + c.duplicates + c.quarantined)
    throw new Error(
      `row accounting failed for ${file}: read ${c.read} ≠ loaded ${c.loaded} + duplicates ${c.duplicates} + quarantined ${c.quarantined}`,
    );
}

/**
 * Inside the file's transaction: the malformed records to quarantine, then the validated rows to their table.
 * Returns what the inserts added (loaded) and the duplicates counted before them.
 */
async function insertRows(
  conn: DuckDBConnection,
  f: { source: SourceName; file: string; spec: AnySource; skipBefore: number; hooks: ExtractHooks },
  rejects: string,
  staged: { raw: string; columns: string[]; events: StagedEvents | null },
): Promise<{ loaded: number; duplicates: number }> {
  await conn.run(
    `INSERT INTO quarantine (source, file, line, column_name, reason, raw) SELECT $s, $f, line, column_name, reason, left(raw, 2000) FROM ${rejects} WHERE line > ${f.skipBefore}`,
    { s: f.source, f: f.file },
  );
  const { events } = staged;
  if (events) {
    // Test hook: lets a test lose a staged row before the load, to prove the accounting check can fail.
    await f.hooks.afterStaging?.(conn, events.stage);
    await insertEvents(conn, f.file, events);
    return {
      loaded: (await scalar(conn, `SELECT count(*) FROM events`)) - events.before,
      duplicates: events.duplicates,
    };
  }
  const side = f.source as 'customers' | 'labels';
  const spec = f.spec as CustomersSource | LabelsSource;
  return loadSideTable(conn, side, f.file, spec, staged, f.skipBefore, f.hooks);
}

/**
 * Where this load of `file` starts. A file loaded before with the same content is `unchanged`; one that grew with
 * its loaded bytes intact continues after the last record read (an append); any other change refuses the file
 * (the documented policy, docs/reliability.md): loaded rows are never rewritten, and never silently skipped.
 */
async function appendPoint(
  conn: DuckDBConnection,
  source: SourceName,
  file: string,
  size: number,
  plainAt: string | undefined,
): Promise<{ sha256: string; skipBefore: number | 'unchanged' }> {
  const r = await conn.runAndReadAll(
    `SELECT size, sha256, last_line, CAST(loaded_at AS VARCHAR) FROM source_files WHERE source = $s AND file = $f
     ORDER BY last_line DESC, loaded_at DESC LIMIT 1`,
    { s: source, f: file },
  );
  const prev = r.getRows()[0];
  // Before the hash: a .zst is refused by name at once; an unchanged file was verified when it was loaded.
  if (!prev) {
    await verifyCompression(file, plainAt);
    return { sha256: (await digestFile(file)).sha256, skipBefore: 0 };
  }
  const [prevSize, prevSha, lastLine, at] = [Number(prev[0]), String(prev[1]), Number(prev[2]), String(prev[3])];
  const d = await digestFile(file, prevSize);
  if (d.sha256 === prevSha) return { sha256: d.sha256, skipBefore: 'unchanged' };
  const newline = (b?: number) => b === 0x0a || b === 0x0d;
  // The last loaded line must be complete: bytes appended to a line without its newline changed a loaded row.
  const appended =
    size > prevSize &&
    d.prefixSha256 === prevSha &&
    (isGzip(file) || newline(d.lastPrefixByte) || newline(d.byteAfterPrefix));
  if (appended) {
    await verifyCompression(file, plainAt);
    return { sha256: d.sha256, skipBefore: lastLine };
  }
  throw new ExtractError(
    `${file} changed in place since it was loaded (${at} UTC): its first ${prevSize} bytes (${lastLine} lines, ` +
      `already in the warehouse) are no longer what was loaded. Rows appended to a source file load; rows already ` +
      `loaded are never rewritten. Restore the file and append the new rows to it, or give the new data a new file ` +
      `name (rows equal to loaded ones then count as duplicates) and take this file out of the source path; to ` +
      `rebuild the warehouse from the files as they are now, delete the pipeline's warehouse file.`,
    file,
  );
}

/**
 * Undoes the file's transaction. A failed write (a full disk) has already aborted it in DuckDB: the ROLLBACK then
 * fails with "no transaction is active", which must not replace the error that says what went wrong.
 */
async function rollback(conn: DuckDBConnection, cause: unknown): Promise<void> {
  try {
    await conn.run('ROLLBACK');
  } catch (e) {
    if (!/no transaction is active/i.test((e as Error).message))
      throw new AggregateError([cause, e], (e as Error).message);
  }
}

/** Loads one file (in its own transaction). */
export async function loadFile(
  conn: DuckDBConnection,
  source: SourceName,
  file: string,
  spec: AnySource,
  futureAfter: Date,
  hooks: ExtractHooks = {},
): Promise<FileReport> {
  const size = statSync(file).size;
  if (size === 0) throw new ExtractError(`${file} is empty (0 bytes)`, file);
  // A gzipped text file is checked by inflating it whole; those bytes are kept for DuckDB's reader (extract/read.ts).
  const plain = isGzip(file) && isText(file, spec) ? await plainCopyPath(conn) : undefined;
  try {
    const { sha256, skipBefore } = await appendPoint(conn, source, file, size, plain);
    if (skipBefore === 'unchanged')
      return { file, size, sha256, read: 0, loaded: 0, duplicates: 0, quarantined: 0, skipped: true };
    return await loadRows(conn, { source, file, spec, futureAfter, hooks, size, sha256, skipBefore, plain });
  } finally {
    if (plain) rmSync(plain, { force: true });
  }
}

/** Whether the file is read as delimited text (the formats whose gzip DuckDB would inflate in its CSV reader). */
const isText = (file: string, spec: AnySource) => ['csv', 'tsv'].includes(spec.format ?? inferFormat(file));

/**
 * Where a gzipped source's inflated copy goes while it loads: beside the warehouse file (the system temp folder
 * for an in-memory warehouse), under a name of its own per process and load, so two attempts never share it.
 */
async function plainCopyPath(conn: DuckDBConnection): Promise<string> {
  const db = (
    await conn.runAndReadAll(`SELECT path FROM duckdb_databases() WHERE database_name = current_database()`)
  ).getRows()[0]?.[0];
  const dir = db ? dirname(String(db)) : tmpdir();
  return join(dir, `.${tmpName('extract')}.csv`);
}

/** The rows of one file past `skipBefore`, read, validated and loaded in one transaction with their accounting checked. */
async function loadRows(
  conn: DuckDBConnection,
  f: {
    source: SourceName;
    file: string;
    spec: AnySource;
    futureAfter: Date;
    hooks: ExtractHooks;
    size: number;
    sha256: string;
    skipBefore: number;
    plain: string | undefined;
  },
): Promise<FileReport> {
  const { source, file, spec, futureAfter, hooks, size, sha256, skipBefore } = f;
  const { raw, rejects, columns } = await readRaw(conn, file, spec, f.plain);
  const tables = [raw, rejects];
  try {
    const goodCount = await scalar(conn, `SELECT count(*) FROM ${raw} WHERE __line > ${skipBefore}`);
    const rejectCount = await scalar(conn, `SELECT count(*) FROM ${rejects} WHERE line > ${skipBefore}`);
    if (goodCount + rejectCount === 0 && skipBefore === 0)
      throw new ExtractError(`${file} has a header but no rows`, file);
    const read = goodCount + rejectCount;
    const lastLine = await scalar(
      conn,
      `SELECT greatest((SELECT coalesce(max(__line), 0) FROM ${raw}), (SELECT coalesce(max(line), 0) FROM ${rejects}), ${skipBefore})`,
    );
    let events: StagedEvents | null = null;
    if (source === 'events') {
      events = await prepareEvents(conn, file, spec as EventsSource, { raw, columns }, futureAfter, skipBefore);
      tables.push(...events.tables);
    }

    await conn.run('BEGIN TRANSACTION');
    try {
      const count = (table: string, where: string) =>
        scalar(conn, `SELECT count(*) FROM ${table} WHERE ${where}`, { s: source, f: file });
      const quarantinedBefore = await count('quarantine', 'source = $s AND file = $f');
      const { loaded, duplicates } = await insertRows(conn, { source, file, spec, skipBefore, hooks }, rejects, {
        raw,
        columns,
        events,
      });
      const quarantined = (await count('quarantine', 'source = $s AND file = $f')) - quarantinedBefore;
      checkAccounting(file, { read, loaded, duplicates, quarantined });
      await conn.run(
        `INSERT INTO source_files (source, file, size, sha256, rows_read, loaded, duplicates, quarantined, last_line) VALUES ($s, $f, $size, $h, $r, $l, $d, $q, $last)`,
        { s: source, f: file, size, h: sha256, r: read, l: loaded, d: duplicates, q: quarantined, last: lastLine },
      );
      await conn.run('COMMIT');
      return { file, size, sha256, read, loaded, duplicates, quarantined, skipped: false };
    } catch (e) {
      await rollback(conn, e);
      throw e;
    }
  } finally {
    for (const t of tables) await conn.run(`DROP TABLE IF EXISTS ${t}`);
  }
}
