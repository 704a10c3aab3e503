/** Reading source files as text: formats, headers, malformed records (reject tables), file hashes. */
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { DuckDBConnection } from '@duckdb/node-api';
import { quoteIdent, quoteLiteral } from '../db';
import { readJson } from './json';
import { ExtractError, type AnySource, type Format } from './types';

export function inferFormat(file: string): Format {
  const f = file.toLowerCase().replace(/\.(gz|gzip|zst)$/, '');
  if (f.endsWith('.parquet')) return 'parquet';
  if (f.endsWith('.ndjson') || f.endsWith('.jsonl')) return 'ndjson';
  if (f.endsWith('.json')) return 'json';
  if (f.endsWith('.tsv') || f.endsWith('.tab')) return 'tsv';
  return 'csv';
}

export async function resolveFiles(conn: DuckDBConnection, pattern: string, baseDir: string): Promise<string[]> {
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

/**
 * The first line of a (possibly gzipped) text file: the header, read without trusting the CSV sniffer. Only the
 * first MiB is read, and inflated on the thread pool: reading the whole file (130 MB at 10 M events) and inflating
 * on the main thread blocked the worker's event loop for 0.8 s (issue 17).
 */
async function firstLine(file: string): Promise<string> {
  const fh = await open(file, 'r');
  let head: Buffer;
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(1 << 20), 0, 1 << 20, 0);
    head = buffer.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  // finishFlush: 2 (Z_SYNC_FLUSH) inflates a truncated stream as far as it goes instead of failing.
  const text = (file.endsWith('.gz') ? await promisify(gunzip)(head, { finishFlush: 2 }) : head).toString('utf8');
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

/**
 * The column names of a delimited file, checked: a binary file (control bytes in its first line) and a header
 * naming one column twice are errors naming the file, not a DuckDB message about literals or struct entries.
 */
function headerNames(file: string, line: string, delim: string, header: boolean): string[] {
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(line.split(delim).join('')))
    throw new ExtractError(
      `${file} does not look like a text file: its first line holds control bytes (binary data, or another encoding?)`,
      file,
    );
  const names = splitHeader(line, delim);
  if (!header) return names.map((_, i) => `column${i}`);
  const seen = new Map<string, number>();
  names.forEach((n, i) => {
    const first = seen.get(n.toLowerCase());
    if (first !== undefined && n !== '')
      throw new ExtractError(
        `${file}: the header names column "${n}" twice (columns ${first + 1} and ${i + 1}); give each column its own name`,
        file,
        n,
      );
    seen.set(n.toLowerCase(), i);
  });
  return names;
}

let tmpCounter = 0;
export const tmpName = (p: string) => `${p}_${process.pid}_${++tmpCounter}`;

/**
 * Reads one file into a temp table of VARCHAR columns plus `__line` (the line, or record number for non-text
 * formats), and a temp table of rejected records (line, reason, raw). Returns their names and the column list.
 */
export async function readRaw(
  conn: DuckDBConnection,
  file: string,
  spec: AnySource,
  /** The file's bytes already inflated (a gzipped text file, extract/load.ts): read instead of the file. */
  plain?: string,
): Promise<{ raw: string; rejects: string; columns: string[] }> {
  const format: Format = spec.format ?? inferFormat(file);
  const raw = tmpName('raw');
  const rejects = tmpName('rej');
  const path = quoteLiteral(plain ?? file);
  await conn.run(`CREATE TEMP TABLE ${rejects} (line BIGINT, column_name VARCHAR, reason VARCHAR, raw VARCHAR)`);

  if (format === 'csv' || format === 'tsv') {
    const delimSetting = spec.delimiter ?? (format === 'tsv' ? '\t' : ',');
    if (delimSetting === 'whitespace') return readWhitespace(conn, file, spec, raw, rejects, plain);
    const headerLine = await firstLine(file);
    if (headerLine.trim() === '') throw new ExtractError(`${file} is empty`, file);
    const names = headerNames(file, headerLine, delimSetting, spec.header);
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
    if ((await scalar(conn, `SELECT count(*) FROM ${rejects}`)) === 0)
      return { raw: await toFileLines(conn, raw, rejects, names), rejects, columns: names };
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
    return { raw: await toFileLines(conn, fixed, rejects, names), rejects, columns: names };
  }
  if (format === 'ndjson' || format === 'json') return readJson(conn, file, format, raw, rejects);
  const reader = `read_parquet(${path})`;
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

/**
 * DuckDB numbers records, not lines: a quoted field spanning lines shifted every later line number. When some
 * record holds a newline, records' numbers (good and rejected) become the file line they start on.
 */
async function toFileLines(conn: DuckDBConnection, raw: string, rejects: string, columns: string[]): Promise<string> {
  const nl = (text: string) => `length(${text}) - length(replace(${text}, chr(10), ''))`;
  const goodText = `concat_ws('', ${columns.map((c) => quoteIdent(c)).join(', ')})`;
  const spans = await scalar(
    conn,
    `SELECT (SELECT count(*) FROM ${raw} WHERE strpos(${goodText}, chr(10)) > 0) + (SELECT count(*) FROM ${rejects} WHERE strpos(raw, chr(10)) > 0)`,
  );
  if (spans === 0) return raw;
  const map = tmpName('lines');
  await conn.run(
    `CREATE TEMP TABLE ${map} AS SELECT line, line + coalesce(sum(n) OVER (ORDER BY line ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS file_line
     FROM (SELECT __line AS line, ${nl(goodText)} AS n FROM ${raw} UNION ALL SELECT line, ${nl("coalesce(raw, '')")} FROM ${rejects})`,
  );
  await conn.run(`UPDATE ${rejects} r SET line = m.file_line FROM ${map} m WHERE m.line = r.line`);
  const out = tmpName('raw');
  await conn.run(
    `CREATE TEMP TABLE ${out} AS SELECT g.* EXCLUDE (__line), m.file_line AS __line FROM ${raw} g JOIN ${map} m ON m.line = g.__line ORDER BY m.file_line`,
  );
  for (const t of [raw, map]) await conn.run(`DROP TABLE ${t}`);
  return out;
}

/** Whitespace-separated text (CDNOW_master.txt): split each line on runs of blanks. */
async function readWhitespace(
  conn: DuckDBConnection,
  file: string,
  spec: AnySource,
  raw: string,
  rejects: string,
  plain: string | undefined,
) {
  const path = quoteLiteral(plain ?? file);
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

export async function scalar(
  conn: DuckDBConnection,
  sql: string,
  params?: Record<string, string | number>,
): Promise<number> {
  const r = await conn.runAndReadAll(sql, params);
  return Number(r.getRows()[0]?.[0] ?? 0);
}
