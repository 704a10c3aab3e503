/**
 * Extraction: source files → the canonical warehouse tables, with exact row accounting.
 *
 * For every file: read = loaded + duplicates + quarantined (checked; a mismatch is a bug and throws).
 * - Rows are read as text (nothing is coerced or dropped by the reader); malformed records (wrong column count,
 *   bad quoting, invalid UTF-8) are captured through DuckDB's reject tables and quarantined with their line.
 * - Values are validated in SQL; each failing row goes to `quarantine` with file, line, column and reason.
 * - Exact duplicates (within the file and against rows already loaded) are counted and dropped.
 * - A file already loaded with the same content hash is skipped; a file that grew is loaded past its last record
 *   (appends); each file loads in one transaction, so a crash never leaves half a file behind.
 * All heavy lifting is DuckDB SQL; JavaScript only assembles statements from validated identifiers.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { LoadedPipeline } from '../pipelines/load';
import type { CustomersSource, EventsSource, FieldSource, LabelsSource } from '../pipelines/schema';
import { quoteIdent, quoteLiteral } from './db';
import { ensureWarehouseSchema } from './schema';

export interface FileReport {
  file: string;
  size: number;
  sha256: string;
  read: number;
  loaded: number;
  duplicates: number;
  quarantined: number;
  /** Already loaded with this content: nothing read. */
  skipped: boolean;
}

export interface SourceReport {
  source: 'events' | 'customers' | 'labels';
  read: number;
  loaded: number;
  duplicates: number;
  quarantined: number;
  files: FileReport[];
  quarantineReasons: Record<string, number>;
}

export interface ExtractSummary {
  pipeline: string;
  database: string;
  sources: SourceReport[];
  users: number;
  events: number;
  minTs: string | null;
  maxTs: string | null;
  seconds: number;
}

export interface ExtractOptions {
  onProgress?: (p: { file: string; done: number; total: number }) => void;
  signal?: AbortSignal;
  /** Rows with a timestamp later than this are quarantined as "timestamp in the future" (default: now + 1 day). */
  futureAfter?: Date;
}

/** An input problem the user must fix: names the file and, where it applies, the column. */
export class ExtractError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly column?: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}

type SourceName = SourceReport['source'];
type AnySource = EventsSource | CustomersSource | LabelsSource;
type Format = 'csv' | 'tsv' | 'parquet' | 'json' | 'ndjson';

export function inferFormat(file: string): Format {
  const f = file.toLowerCase().replace(/\.(gz|gzip|zst)$/, '');
  if (f.endsWith('.parquet')) return 'parquet';
  if (f.endsWith('.ndjson') || f.endsWith('.jsonl')) return 'ndjson';
  if (f.endsWith('.json')) return 'json';
  if (f.endsWith('.tsv') || f.endsWith('.tab')) return 'tsv';
  return 'csv';
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function resolveFiles(conn: DuckDBConnection, pattern: string, baseDir: string): Promise<string[]> {
  const abs = isAbsolute(pattern) ? pattern : resolve(baseDir, pattern);
  if (/[*?[]/.test(abs)) {
    const r = await conn.runAndReadAll(`SELECT file FROM glob($p) ORDER BY file`, { p: abs });
    const files = r.getRows().map((row) => String(row[0]));
    if (files.length === 0) throw new ExtractError(`no source file matches ${abs}`, abs);
    return files;
  }
  if (!existsSync(abs))
    throw new ExtractError(
      `source file not found: ${abs} (path "${pattern}" is relative to the definition's folder ${baseDir})`,
      abs,
    );
  return [abs];
}

/** The first line of a (possibly gzipped) text file: the header, read without trusting the CSV sniffer. */
function firstLine(file: string): string {
  const buf = readFileSync(file);
  const text = (
    file.endsWith('.gz')
      ? gunzipSync(buf.subarray(0, Math.min(buf.length, 1 << 20)), { finishFlush: 2 })
      : buf.subarray(0, 1 << 20)
  ).toString('utf8');
  return text.split(/\r?\n/, 1)[0] ?? '';
}

/** Splits a header line on the delimiter, honouring double quotes. */
function splitHeader(line: string, delim: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') {
      if (q && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else q = !q;
    } else if (c === delim && !q) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((s) => s.trim().replace(/^\uFEFF/, ''));
}

let tmpCounter = 0;
const tmpName = (p: string) => `${p}_${process.pid}_${++tmpCounter}`;

/**
 * Reads one file into a temp table of VARCHAR columns plus `__line` (the line, or record number for non-text
 * formats), and a temp table of rejected records (line, reason, raw). Returns their names and the column list.
 */
async function readRaw(
  conn: DuckDBConnection,
  file: string,
  spec: AnySource,
): Promise<{ raw: string; rejects: string; columns: string[] }> {
  const format: Format = spec.format ?? inferFormat(file);
  const raw = tmpName('raw');
  const rejects = tmpName('rej');
  const path = quoteLiteral(file);
  await conn.run(`CREATE TEMP TABLE ${rejects} (line BIGINT, column_name VARCHAR, reason VARCHAR, raw VARCHAR)`);

  if (format === 'csv' || format === 'tsv') {
    const delimSetting = spec.delimiter ?? (format === 'tsv' ? '\t' : ',');
    if (delimSetting === 'whitespace') return readWhitespace(conn, file, spec, raw, rejects);
    const headerLine = firstLine(file);
    if (headerLine.trim() === '') throw new ExtractError(`${file} is empty`, file);
    const names = spec.header
      ? splitHeader(headerLine, delimSetting)
      : splitHeader(headerLine, delimSetting).map((_, i) => `column${i}`);
    const cols = names.map((n, i) => `${quoteLiteral(n || `column${i}`)}: 'VARCHAR'`).join(', ');
    const rt = tmpName('rejt');
    const rs = tmpName('rejs');
    const headerLines = spec.header ? 1 : 0;
    // `__line` is the record's position among the good records; fixed up below when some records were rejected.
    await conn.run(
      `CREATE TEMP TABLE ${raw} AS SELECT *, row_number() OVER () + ${headerLines} AS __line FROM read_csv(${path}, auto_detect=false, header=${spec.header}, columns={${cols}},
         delim=${quoteLiteral(delimSetting)}, quote='"', escape='"', ignore_errors=true, store_rejects=true,
         rejects_table=${quoteLiteral(rt)}, rejects_scan=${quoteLiteral(rs)}, strict_mode=true, max_line_size=4000000)`,
    );
    await conn.run(
      // One rejected record can raise several errors (e.g. too many columns and a bad value): count it once.
      `INSERT INTO ${rejects} SELECT line, any_value(column_name), 'malformed row: ' || string_agg(DISTINCT lower(error_type), ', ') || ' (' || any_value(error_message) || ')', any_value(csv_line) FROM ${rt} GROUP BY line`,
    );
    for (const t of [rt, rs]) await conn.run(`DROP TABLE IF EXISTS ${t}`);
    if ((await scalar(conn, `SELECT count(*) FROM ${rejects}`)) === 0) return { raw, rejects, columns: names };
    // Good records keep file order; their line numbers are the positions not taken by rejected records.
    const fixed = tmpName('raw');
    await conn.run(
      `CREATE TEMP TABLE ${fixed} AS
       WITH n AS (SELECT (SELECT count(*) FROM ${raw}) + (SELECT count(*) FROM ${rejects}) AS total),
            pos AS (SELECT p, row_number() OVER (ORDER BY p) AS k FROM range(1, (SELECT total FROM n) + 1) t(p)
                    WHERE p NOT IN (SELECT line - ${headerLines} FROM ${rejects}))
       SELECT g.* EXCLUDE (__line), pos.p + ${headerLines} AS __line FROM ${raw} g JOIN pos ON pos.k = g.__line - ${headerLines}`,
    );
    await conn.run(`DROP TABLE ${raw}`);
    return { raw: fixed, rejects, columns: names };
  }
  if (format === 'ndjson') {
    // One JSON object per line: read lines as text so a broken line is quarantined, not skipped.
    await conn.run(
      `CREATE TEMP TABLE ${raw}_l AS SELECT j, row_number() OVER () AS __line FROM read_csv(${path}, auto_detect=false, header=false,
         columns={'j': 'VARCHAR'}, delim='\x1e', quote='', escape='', max_line_size=4000000)`,
    );
    await conn.run(
      `INSERT INTO ${rejects} SELECT __line, NULL, 'malformed JSON line', j FROM ${raw}_l WHERE NOT coalesce(json_valid(j), false) AND trim(j) <> ''`,
    );
    const keys = await conn.runAndReadAll(
      `SELECT DISTINCT unnest(json_keys(j)) FROM ${raw}_l WHERE json_valid(j) LIMIT 1000`,
    );
    const columns = keys.getRows().map((r) => String(r[0]));
    const sel = columns
      .map((c) => `json_extract_string(j, ${quoteLiteral(`$."${c.replace(/"/g, '')}"`)}) AS ${quoteIdent(c)}`)
      .join(', ');
    await conn.run(
      `CREATE TEMP TABLE ${raw} AS SELECT ${sel || 'NULL AS __none'}, __line FROM ${raw}_l WHERE coalesce(json_valid(j), false)`,
    );
    await conn.run(`DROP TABLE ${raw}_l`);
    return { raw, rejects, columns };
  }
  const reader = format === 'parquet' ? `read_parquet(${path})` : `read_json(${path}, format='auto', records=true)`;
  try {
    await conn.run(`CREATE TEMP TABLE ${raw}_p AS SELECT * FROM ${reader}`);
  } catch (e) {
    throw new ExtractError(`cannot read ${file} as ${format}: ${(e as Error).message.split('\n')[0]}`, file);
  }
  const d = await conn.runAndReadAll(`SELECT column_name FROM (DESCRIBE ${raw}_p)`);
  const columns = d.getRows().map((r) => String(r[0]));
  await conn.run(
    `CREATE TEMP TABLE ${raw} AS SELECT ${columns.map((c) => `CAST(${quoteIdent(c)} AS VARCHAR) AS ${quoteIdent(c)}`).join(', ')}, row_number() OVER () AS __line FROM ${raw}_p`,
  );
  await conn.run(`DROP TABLE ${raw}_p`);
  return { raw, rejects, columns };
}

/** Whitespace-separated text (CDNOW_master.txt): split each line on runs of blanks. */
async function readWhitespace(conn: DuckDBConnection, file: string, spec: AnySource, raw: string, rejects: string) {
  const path = quoteLiteral(file);
  await conn.run(
    `CREATE TEMP TABLE ${raw}_l AS SELECT regexp_split_to_array(regexp_replace(l, '^\\s+|\\s+$', '', 'g'), '\\s+') AS parts, row_number() OVER () AS __line
     FROM read_csv(${path}, auto_detect=false, header=false, columns={'l': 'VARCHAR'}, delim='\x1e', quote='', escape='')`,
  );
  const first = await conn.runAndReadAll(`SELECT parts FROM ${raw}_l WHERE __line = 1`);
  const firstParts = (first.getRows()[0]?.[0] as { items: unknown[] } | undefined)?.items?.map(String) ?? [];
  if (firstParts.length === 0 || (firstParts.length === 1 && firstParts[0] === ''))
    throw new ExtractError(`${file} is empty`, file);
  const columns = spec.header ? firstParts : firstParts.map((_, i) => `column${i}`);
  const skip = spec.header ? 1 : 0;
  await conn.run(
    `INSERT INTO ${rejects} SELECT __line, NULL, 'malformed row: expected ${columns.length} fields, found ' || len(parts), array_to_string(parts, ' ')
     FROM ${raw}_l WHERE __line > ${skip} AND len(parts) <> ${columns.length} AND NOT (len(parts) = 1 AND parts[1] = '')`,
  );
  await conn.run(
    `CREATE TEMP TABLE ${raw} AS SELECT ${columns.map((c, i) => `parts[${i + 1}] AS ${quoteIdent(c)}`).join(', ')}, __line
     FROM ${raw}_l WHERE __line > ${skip} AND len(parts) = ${columns.length}`,
  );
  // Blank lines (trailing newline at the end of the file) are not records.
  await conn.run(`DROP TABLE ${raw}_l`);
  return { raw, rejects, columns };
}

function fieldColumns(f: FieldSource | undefined): string[] {
  if (f === undefined) return [];
  if (typeof f === 'string') return [f];
  if ('column' in f) return [f.column];
  if ('product' in f) return [...f.product];
  return [];
}

/** SQL for a mapped field as text (for validation and storage). */
function textExpr(f: FieldSource | undefined): string {
  if (f === undefined) return 'NULL';
  if (typeof f === 'string') return `NULLIF(trim(${quoteIdent(f)}), '')`;
  if ('column' in f) return `NULLIF(trim(${quoteIdent(f.column)}), '')`;
  if ('constant' in f) return quoteLiteral(f.constant);
  return `CAST(TRY_CAST(${quoteIdent(f.product[0])} AS DOUBLE) * TRY_CAST(${quoteIdent(f.product[1])} AS DOUBLE) AS VARCHAR)`;
}

/** Timestamp parsing by the declared format; `auto` understands ISO, epoch s/ms and yyyymmdd. */
function timestampExpr(v: string, format: string): string {
  if (format === 'epoch_ms') return `make_timestamp(TRY_CAST(${v} AS BIGINT) * 1000)`;
  if (format === 'epoch_s') return `make_timestamp(TRY_CAST(${v} AS BIGINT) * 1000000)`;
  if (format !== 'auto') return `try_strptime(${v}, ${quoteLiteral(format)})`;
  // Digits only: epoch ms (13), epoch s (10) or yyyymmdd (8); tested by length first (cheaper than a regexp).
  return `CASE WHEN length(${v}) IN (8, 10, 13) AND TRY_CAST(${v} AS BIGINT) IS NOT NULL THEN
      CASE length(${v}) WHEN 13 THEN make_timestamp(TRY_CAST(${v} AS BIGINT) * 1000)
                        WHEN 10 THEN make_timestamp(TRY_CAST(${v} AS BIGINT) * 1000000)
                        ELSE try_strptime(${v}, '%Y%m%d') END
    ELSE coalesce(CAST(TRY_CAST(${v} AS TIMESTAMPTZ) AS TIMESTAMP), try_strptime(${v}, '%m/%d/%Y %H:%M'), try_strptime(${v}, '%d/%m/%Y %H:%M')) END`;
}

function checkColumns(file: string, have: string[], needed: string[], what: string) {
  for (const c of needed) {
    if (!have.includes(c)) {
      throw new ExtractError(
        `${file}: the mapped column "${c}" (${what}) is not in the file; its columns are: ${have.join(', ')}`,
        file,
        c,
      );
    }
  }
}

/** Validates the raw rows of one events file into a staging table with `reason`/`bad_column` for rejects. */
async function stageEvents(
  conn: DuckDBConnection,
  file: string,
  spec: EventsSource,
  raw: string,
  columns: string[],
  futureAfter: Date,
  skipBefore: number,
) {
  const m = spec.columns;
  const ruleCols = spec.eventRules.map((r) => r.when.column);
  checkColumns(
    file,
    columns,
    [
      ...fieldColumns(m.user_id),
      ...fieldColumns(m.ts),
      ...fieldColumns(m.event),
      ...fieldColumns(m.item_id),
      ...fieldColumns(m.revenue),
      ...fieldColumns(m.session_id),
      ...m.properties,
      ...ruleCols,
    ],
    'columns mapping',
  );
  const params: Record<string, string> = { future: futureAfter.toISOString() };
  let eventExpr = textExpr(m.event);
  spec.eventRules.forEach((r, i) => {
    params[`rp${i}`] = r.when.startsWith;
    params[`re${i}`] = r.event;
    eventExpr = `CASE WHEN starts_with(coalesce(${quoteIdent(r.when.column)}, ''), $rp${i}) THEN $re${i} ELSE ${eventExpr} END`;
  });
  const listParam = (name: string, values: string[]) => {
    values.forEach((v, i) => (params[`${name}${i}`] = v));
    return values.length ? `(${values.map((_, i) => `$${name}${i}`).join(', ')})` : `(NULL)`;
  };
  const known = spec.eventTypes ? listParam('et', spec.eventTypes) : null;
  const negOk = listParam('neg', spec.negativeRevenueEvents);
  const props = m.properties.length
    ? `to_json(json_object(${m.properties.map((p) => `${quoteLiteral(p)}, ${quoteIdent(p)}`).join(', ')}))`
    : 'NULL';
  const col = (f: FieldSource | undefined) => quoteLiteral(fieldColumns(f).join(' × ') || 'constant');
  const stage = tmpName('stage');
  await conn.run(
    `CREATE TEMP TABLE ${stage} AS
     WITH v AS (
       SELECT __line, ${textExpr(m.user_id)} AS user_id, ${textExpr(m.ts)} AS ts_raw, ${eventExpr} AS event,
              ${textExpr(m.item_id)} AS item_id, ${textExpr(m.revenue)} AS revenue_raw, ${textExpr(m.session_id)} AS session_id,
              ${props} AS properties
       FROM ${raw} WHERE __line > ${skipBefore}),
     p AS (SELECT *, ${timestampExpr('ts_raw', spec.timestampFormat)} AS ts, TRY_CAST(revenue_raw AS DOUBLE) AS revenue FROM v)
     SELECT *,
       CASE WHEN user_id IS NULL THEN 'missing user id'
            WHEN ts_raw IS NULL THEN 'missing timestamp'
            WHEN ts IS NULL THEN 'unparseable timestamp'
            WHEN ts > CAST($future AS TIMESTAMP) THEN 'timestamp in the future'
            WHEN event IS NULL THEN 'missing event type'
            ${known ? `WHEN event NOT IN ${known} THEN 'unknown event type'` : ''}
            WHEN revenue_raw IS NOT NULL AND (revenue IS NULL OR isnan(revenue) OR isinf(revenue)) THEN 'non-numeric revenue'
            WHEN revenue < 0 AND ${spec.negativeRevenueEvents.length ? `event NOT IN ${negOk}` : 'TRUE'} THEN 'negative revenue'
       END AS reason,
       CASE WHEN user_id IS NULL THEN ${col(m.user_id)}
            WHEN ts_raw IS NULL OR ts IS NULL OR ts > CAST($future AS TIMESTAMP) THEN ${col(m.ts)}
            WHEN event IS NULL ${known ? `OR event NOT IN ${known}` : ''} THEN ${col(m.event)}
            ELSE ${col(m.revenue)} END AS bad_column,
       hash(${spec.dedupe ? "''" : '__line'}, user_id, ts, event, coalesce(item_id, ''), coalesce(CAST(revenue AS VARCHAR), ''), coalesce(session_id, ''), coalesce(CAST(properties AS VARCHAR), '')) AS row_key
     FROM p`,
    params,
  );
  // The raw text is rebuilt only for the rejected rows (joined back on their line), not carried for every row.
  const rawText = `concat_ws(',', ${columns.map((c) => `r.${quoteIdent(c)}`).join(', ')})`;
  return { stage, rawText };
}

async function scalar(conn: DuckDBConnection, sql: string, params?: Record<string, string | number>): Promise<number> {
  const r = await conn.runAndReadAll(sql, params);
  return Number(r.getRows()[0]?.[0] ?? 0);
}

/** Loads one file (in its own transaction). */
async function loadFile(
  conn: DuckDBConnection,
  source: SourceName,
  file: string,
  spec: AnySource,
  futureAfter: Date,
): Promise<FileReport> {
  const size = statSync(file).size;
  if (size === 0) throw new ExtractError(`${file} is empty (0 bytes)`, file);
  const sha256 = await sha256File(file);
  const seen = await conn.runAndReadAll(
    `SELECT count(*) FROM source_files WHERE source = $s AND file = $f AND sha256 = $h`,
    { s: source, f: file, h: sha256 },
  );
  if (Number(seen.getRows()[0][0]) > 0)
    return { file, size, sha256, read: 0, loaded: 0, duplicates: 0, quarantined: 0, skipped: true };
  // A file that grew since its last load: continue after the records already read (appends).
  const prev = await conn.runAndReadAll(`SELECT max(last_line) FROM source_files WHERE source = $s AND file = $f`, {
    s: source,
    f: file,
  });
  const skipBefore = Number(prev.getRows()[0][0] ?? 0);

  const { raw, rejects, columns } = await readRaw(conn, file, spec);
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

    // Parsing, validation and duplicate detection work on temp tables before the transaction (a temp table
    // created inside it is transaction-local storage, several times slower to build and scan at 10M rows); the
    // transaction holds only the inserts, so a crash still never leaves half a file behind.
    let events: { stage: string; bad: string; repeated: string; before: number } | null = null;
    if (source === 'events') {
      const { stage, rawText } = await stageEvents(
        conn,
        file,
        spec as EventsSource,
        raw,
        columns,
        futureAfter,
        skipBefore,
      );
      const bad = tmpName('bad');
      const repeated = tmpName('rep');
      tables.push(stage, bad, repeated);
      await conn.run(
        `CREATE TEMP TABLE ${bad} AS SELECT s.__line, s.bad_column, s.reason, left(${rawText}, 2000) AS raw
         FROM ${stage} s JOIN ${raw} r USING (__line) WHERE s.reason IS NOT NULL`,
      );
      await conn.run(`DROP TABLE ${raw}`);
      // Exact duplicates: the first occurrence in the file wins; rows already in the warehouse are not added again.
      // `row_key` hashes the whole row, so only rows whose key repeats (few) need the full comparison: a hash
      // aggregate over every column (NULLs equal). The check against the warehouse runs only when it holds events.
      const before = await scalar(conn, `SELECT count(*) FROM events`);
      await conn.run(
        `CREATE TEMP TABLE ${repeated} AS SELECT row_key FROM ${stage} WHERE reason IS NULL GROUP BY row_key HAVING count(*) > 1
         ${before === 0 ? '' : `UNION SELECT row_key FROM events WHERE row_key IN (SELECT row_key FROM ${stage})`}`,
      );
      events = { stage, bad, repeated, before };
    }

    await conn.run('BEGIN TRANSACTION');
    try {
      await conn.run(
        `INSERT INTO quarantine (source, file, line, column_name, reason, raw) SELECT $s, $f, line, column_name, reason, left(raw, 2000) FROM ${rejects} WHERE line > ${skipBefore}`,
        { s: source, f: file },
      );
      let loaded = 0;
      let duplicates = 0;
      let quarantined = rejectCount;
      if (events) {
        const { stage, bad, repeated, before } = events;
        await conn.run(
          `INSERT INTO quarantine (source, file, line, column_name, reason, raw) SELECT $s, $f, __line, bad_column, reason, raw FROM ${bad}`,
          { s: source, f: file },
        );
        quarantined += await scalar(conn, `SELECT count(*) FROM ${bad}`);
        const cols = `user_id, ts, event, item_id, revenue, session_id, properties`;
        await conn.run(
          `INSERT INTO events
           SELECT ${cols}, $f, __line, row_key FROM ${stage}
           WHERE reason IS NULL AND row_key NOT IN (SELECT row_key FROM ${repeated})
           UNION ALL
           SELECT user_id, ts, event, item_id, revenue, session_id, CAST(props AS JSON), $f, __line, row_key FROM (
             SELECT min(__line) AS __line, row_key, user_id, ts, event, item_id, revenue, session_id, CAST(properties AS VARCHAR) AS props
             FROM ${stage} WHERE reason IS NULL AND row_key IN (SELECT row_key FROM ${repeated}) GROUP BY ALL) s
           ${
             before === 0
               ? ''
               : `WHERE NOT EXISTS (
             SELECT 1 FROM events e WHERE e.row_key = s.row_key AND e.user_id = s.user_id AND e.ts = s.ts AND e.event = s.event
               AND e.item_id IS NOT DISTINCT FROM s.item_id AND e.revenue IS NOT DISTINCT FROM s.revenue
               AND e.session_id IS NOT DISTINCT FROM s.session_id AND CAST(e.properties AS VARCHAR) IS NOT DISTINCT FROM s.props)`
           }`,
          { f: file },
        );
        loaded = (await scalar(conn, `SELECT count(*) FROM events`)) - before;
        duplicates = goodCount - (quarantined - rejectCount) - loaded;
      } else {
        const r = await loadSideTable(
          conn,
          source as 'customers' | 'labels',
          file,
          spec as CustomersSource | LabelsSource,
          raw,
          columns,
          skipBefore,
        );
        loaded = r.loaded;
        duplicates = r.duplicates;
        quarantined += r.quarantined;
      }
      if (read !== loaded + duplicates + quarantined) {
        throw new Error(
          `row accounting failed for ${file}: read ${read} ≠ loaded ${loaded} + duplicates ${duplicates} + quarantined ${quarantined}`,
        );
      }
      await conn.run(
        `INSERT INTO source_files (source, file, size, sha256, rows_read, loaded, duplicates, quarantined, last_line) VALUES ($s, $f, $size, $h, $r, $l, $d, $q, $last)`,
        { s: source, f: file, size, h: sha256, r: read, l: loaded, d: duplicates, q: quarantined, last: lastLine },
      );
      await conn.run('COMMIT');
      return { file, size, sha256, read, loaded, duplicates, quarantined, skipped: false };
    } catch (e) {
      await conn.run('ROLLBACK');
      throw e;
    }
  } finally {
    for (const t of tables) await conn.run(`DROP TABLE IF EXISTS ${t}`);
  }
}

/** Customers (one row per user, attributes as JSON) and labels (explicit 0/1 outcomes). */
async function loadSideTable(
  conn: DuckDBConnection,
  source: 'customers' | 'labels',
  file: string,
  spec: CustomersSource | LabelsSource,
  raw: string,
  columns: string[],
  skipBefore: number,
): Promise<{ loaded: number; duplicates: number; quarantined: number }> {
  const stage = tmpName('side');
  const uid = textExpr(spec.columns.user_id);
  if (source === 'customers') {
    const c = (spec as CustomersSource).columns;
    checkColumns(file, columns, [...fieldColumns(c.user_id), ...c.attributes, ...c.pii], 'customers mapping');
    const attrs = [...c.attributes, ...c.pii];
    const json = attrs.length
      ? `to_json(json_object(${attrs.map((a) => `${quoteLiteral(a)}, ${quoteIdent(a)}`).join(', ')}))`
      : `'{}'::JSON`;
    await conn.run(
      `CREATE TEMP TABLE ${stage} AS SELECT __line, ${uid} AS user_id, ${json} AS attributes, concat_ws(',', ${columns.map(quoteIdent).join(', ')}) AS raw,
         CASE WHEN ${uid} IS NULL THEN 'missing user id' END AS reason FROM ${raw} WHERE __line > ${skipBefore}`,
    );
  } else {
    const c = (spec as LabelsSource).columns;
    checkColumns(file, columns, [...fieldColumns(c.user_id), ...fieldColumns(c.label)], 'labels mapping');
    const lab = `lower(${textExpr(c.label)})`;
    await conn.run(
      `CREATE TEMP TABLE ${stage} AS SELECT __line, ${uid} AS user_id,
         CASE WHEN ${lab} IN ('1', 'true', 'yes', 'y', 't') THEN 1 WHEN ${lab} IN ('0', 'false', 'no', 'n', 'f') THEN 0 END AS label,
         concat_ws(',', ${columns.map(quoteIdent).join(', ')}) AS raw,
         CASE WHEN ${uid} IS NULL THEN 'missing user id'
              WHEN ${lab} NOT IN ('1', 'true', 'yes', 'y', 't', '0', 'false', 'no', 'n', 'f') OR ${lab} IS NULL THEN 'invalid label (use 1/0, true/false or yes/no)'
              WHEN ${uid} NOT IN (SELECT DISTINCT user_id FROM events) THEN 'unknown user (no events)' END AS reason
       FROM ${raw} WHERE __line > ${skipBefore}`,
    );
  }
  try {
    await conn.run(
      `INSERT INTO quarantine (source, file, line, column_name, reason, raw) SELECT $s, $f, __line, $col, reason, left(raw, 2000) FROM ${stage} WHERE reason IS NOT NULL`,
      { s: source, f: file, col: source === 'labels' ? 'label' : (fieldColumns(spec.columns.user_id)[0] ?? 'user_id') },
    );
    const quarantined = await scalar(conn, `SELECT count(*) FROM ${stage} WHERE reason IS NOT NULL`);
    const valid = await scalar(conn, `SELECT count(*) FROM ${stage} WHERE reason IS NULL`);
    // One row per user: the first one in the file; later rows for the same user are duplicates.
    const table = source;
    const payload = source === 'customers' ? 'attributes' : 'label';
    await conn.run(
      `INSERT OR REPLACE INTO ${table} (user_id, ${payload}, source_file, source_line)
       SELECT user_id, ${payload}, $f, __line FROM (SELECT *, row_number() OVER (PARTITION BY user_id ORDER BY __line) rn FROM ${stage} WHERE reason IS NULL) WHERE rn = 1`,
      { f: file },
    );
    const loaded = await scalar(conn, `SELECT count(DISTINCT user_id) FROM ${stage} WHERE reason IS NULL`);
    return { loaded, duplicates: valid - loaded, quarantined };
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${stage}`);
  }
}

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
    const r = await loadFile(conn, source, file, spec, opts.futureAfter ?? new Date(Date.now() + 86_400_000));
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
  const sources: SourceReport[] = [await extractSource(conn, 'events', s.events, loaded, opts)];
  if (s.customers) sources.push(await extractSource(conn, 'customers', s.customers, loaded, opts));
  if (s.labels) sources.push(await extractSource(conn, 'labels', s.labels, loaded, opts));
  const r = await conn.runAndReadAll(
    `SELECT count(DISTINCT user_id), count(*), CAST(min(ts) AS VARCHAR), CAST(max(ts) AS VARCHAR) FROM events`,
  );
  const [users, events, minTs, maxTs] = r.getRows()[0];
  const db = await conn.runAndReadAll(`SELECT path FROM duckdb_databases() WHERE database_name = current_database()`);
  return {
    pipeline: loaded.definition.name,
    database: String(db.getRows()[0]?.[0] ?? ''),
    sources,
    users: Number(users),
    events: Number(events),
    minTs: minTs == null ? null : new Date(String(minTs).replace(' ', 'T') + 'Z').toISOString(),
    maxTs: maxTs == null ? null : new Date(String(maxTs).replace(' ', 'T') + 'Z').toISOString(),
    seconds: (performance.now() - started) / 1000,
  };
}
