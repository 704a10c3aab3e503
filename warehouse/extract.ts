/**
 * Extraction: source files → the canonical warehouse tables, with exact row accounting.
 *
 * For every file: read = loaded + duplicates + quarantined, each term measured by its own query (checked; a
 * mismatch means rows were lost and throws, undoing the file). Helpers live in extract/ (read, stage, events, side, load).
 * - Rows are read as text (nothing is coerced or dropped by the reader); malformed records (wrong column count,
 *   bad quoting, invalid UTF-8) are captured through DuckDB's reject tables and quarantined with their line.
 * - Values are validated in SQL; each failing row goes to `quarantine` with file, line, column and reason.
 * - Exact duplicates (within the file and against rows already loaded) are counted and dropped.
 * - A file already loaded with the same content hash is skipped; a file that grew with its loaded bytes unchanged is
 *   loaded past its last record (appends); any other change is refused (extract/load.ts); a truncated gzip is
 *   refused before anything of it is read (extract/inspect.ts), and the bytes inflated to check it are what DuckDB
 *   reads (extract/load.ts). Each file loads in one transaction, so a crash or a full disk never leaves half a file
 *   behind.
 * - Timestamps are parsed one way per column of a file (extract/timestamps.ts), never guessed per value.
 * All heavy lifting is DuckDB SQL; JavaScript only assembles statements from validated identifiers.
 */
import { existsSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { LoadedPipeline } from '../pipelines/load';
import { eventReferences, unknownEventMessage } from '../pipelines/schema';
import { diskFullError } from '../infra/disk-full';
import { ensureWarehouseSchema } from './schema';
import { loadFile } from './extract/load';
import { resolveFiles } from './extract/read';
import {
  ExtractError,
  type AnySource,
  type ExtractOptions,
  type ExtractSummary,
  type SourceName,
  type SourceReport,
} from './extract/types';

export * from './extract/types';
export { inferFormat } from './extract/read';

async function extractSource(
  conn: DuckDBConnection,
  source: SourceName,
  spec: AnySource,
  loaded: LoadedPipeline,
  opts: ExtractOptions,
): Promise<SourceReport> {
  const files = await resolveFiles(conn, spec.path, loaded.baseDir);
  const report: SourceReport = {
    source,
    read: 0,
    loaded: 0,
    duplicates: 0,
    quarantined: 0,
    files: [],
    quarantineReasons: {},
  };
  for (const [i, file] of files.entries()) {
    if (opts.signal?.aborted) throw new Error('extraction cancelled');
    opts.onProgress?.({ file, done: i, total: files.length });
    const futureAfter = opts.futureAfter ?? new Date(Date.now() + 86_400_000);
    const r = await loadFile(conn, source, file, spec, futureAfter, opts.hooks);
    report.files.push(r);
    report.read += r.read;
    report.loaded += r.loaded;
    report.duplicates += r.duplicates;
    report.quarantined += r.quarantined;
  }
  for (const file of files) {
    const reasons = await conn.runAndReadAll(
      `SELECT regexp_replace(reason, ' \\(.*', '') AS r, count(*) FROM quarantine WHERE source = $s AND file = $f GROUP BY r`,
      { s: source, f: file },
    );
    for (const [r, n] of reasons.getRows())
      report.quarantineReasons[String(r)] = (report.quarantineReasons[String(r)] ?? 0) + Number(n);
  }
  return report;
}

export async function extractPipeline(
  conn: DuckDBConnection,
  loaded: LoadedPipeline,
  opts: ExtractOptions = {},
): Promise<ExtractSummary> {
  const started = performance.now();
  await conn.run(`SET TimeZone = 'UTC'`);
  await ensureWarehouseSchema(conn);
  const s = loaded.definition.sources;
  const sources: SourceReport[] = [];
  try {
    sources.push(await extractSource(conn, 'events', s.events, loaded, opts));
    if (opts.liveEvents && existsSync(opts.liveEvents))
      sources.push(await extractSource(conn, 'events', { ...s.events, path: opts.liveEvents }, loaded, opts));
    if (s.customers) sources.push(await extractSource(conn, 'customers', s.customers, loaded, opts));
    if (s.labels) sources.push(await extractSource(conn, 'labels', s.labels, loaded, opts));
  } catch (e) {
    // Each file loads in one transaction: nothing of the file being loaded stays. Retryable: it finishes once freed.
    const where = `extracting into ${(await databasePath(conn)) || 'the warehouse'} (or DuckDB's temp files beside it)`;
    throw diskFullError(e, where, 'nothing of the file being loaded was kept') ?? e;
  }
  await checkEventReferences(conn, loaded);
  const r = await conn.runAndReadAll(
    `SELECT count(DISTINCT user_id), count(*), CAST(min(ts) AS VARCHAR), CAST(max(ts) AS VARCHAR) FROM events`,
  );
  const [users, events, minTs, maxTs] = r.getRows()[0];
  return {
    pipeline: loaded.definition.name,
    database: await databasePath(conn),
    sources,
    users: Number(users),
    events: Number(events),
    minTs: minTs == null ? null : new Date(String(minTs).replace(' ', 'T') + 'Z').toISOString(),
    maxTs: maxTs == null ? null : new Date(String(maxTs).replace(' ', 'T') + 'Z').toISOString(),
    seconds: (performance.now() - started) / 1000,
  };
}

async function databasePath(conn: DuckDBConnection): Promise<string> {
  const db = await conn.runAndReadAll(`SELECT path FROM duckdb_databases() WHERE database_name = current_database()`);
  return String(db.getRows()[0]?.[0] ?? '');
}

/**
 * Without declared `eventTypes` (those are checked when the definition loads), the event types the definition
 * names must occur in the loaded data: checked here, before features, so a misspelt label event or funnel stage
 * fails at once with the field to fix instead of training on all-zero labels or features.
 */
async function checkEventReferences(conn: DuckDBConnection, loaded: LoadedPipeline): Promise<void> {
  if (loaded.definition.sources.events.eventTypes) return;
  const refs = eventReferences(loaded.definition);
  const names = [...new Set(refs.map((r) => r.event))];
  const params = Object.fromEntries(names.map((n, i) => [`n${i}`, n]));
  const found = await conn.runAndReadAll(
    `SELECT DISTINCT event FROM events WHERE event IN (${names.map((_, i) => `$n${i}`).join(', ')})`,
    params,
  );
  const present = new Set(found.getRows().map((row) => String(row[0])));
  const bad = refs.filter((ref) => !present.has(ref.event));
  if (bad.length === 0) return;
  // The most frequent types (a data set may have many): enough to spot the intended spelling.
  const top = await conn.runAndReadAll(
    `SELECT event FROM events GROUP BY event ORDER BY count(*) DESC, event LIMIT 50`,
  );
  const known = top.getRows().map((row) => String(row[0]));
  const lines = bad.map((ref) => `  - ${ref.path}: ${unknownEventMessage(ref, known, 'the loaded events have')}`);
  throw new ExtractError(
    `${loaded.file}: the definition names event types the data does not have:\n${lines.join('\n')}`,
    loaded.file,
  );
}
