/**
 * Customers (attributes as JSON, each row valid from a time or static) and labels (explicit 0/1 outcomes, each at
 * a time). A row repeating an earlier row's key in the file (the same user and time) is a duplicate: the first wins.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { CustomersSource, LabelsSource } from '../../pipelines/schema';
import { quoteIdent, quoteLiteral } from '../db';
import { scalar, tmpName } from './read';
import { CONTROL, EARLIEST, checkColumns, fieldColumns, isJsonRaw, rawTextExpr, textExpr } from './stage';
import { resolveTimestamps, timestampExpr, type TimestampParse } from './timestamps';
import type { ExtractHooks } from './types';

const TRUE = `('1', 'true', 'yes', 'y', 't')`;
const FALSE = `('0', 'false', 'no', 'n', 'f')`;

/** The SELECT list that stages one file's rows: key (user_id, at_ts), payload, raw text and the reason to reject. */
function stageSelect(
  source: 'customers' | 'labels',
  file: string,
  spec: CustomersSource | LabelsSource,
  columns: string[],
  parse: TimestampParse,
  json: boolean,
) {
  const uid = textExpr(spec.columns.user_id);
  const rawText = rawTextExpr(columns);
  const uidCol = quoteLiteral(fieldColumns(spec.columns.user_id)[0] ?? 'user_id');
  // Ids that no later step can use (JSON objects, control characters) are rejected before anything else.
  const objectId = json ? `list_contains(__nonscalar, ${uidCol})` : 'FALSE';
  const badId = `WHEN ${objectId} THEN 'JSON object, array or boolean as user id'
             WHEN regexp_matches(${uid}, ${CONTROL}) THEN 'control character in user id'`;
  if (source === 'customers') {
    const c = (spec as CustomersSource).columns;
    const from = c.validFrom === undefined ? [] : fieldColumns(c.validFrom);
    checkColumns(file, columns, [...fieldColumns(c.user_id), ...c.attributes, ...c.pii, ...from], 'customers mapping');
    const attrs = [...c.attributes, ...c.pii];
    const payload = attrs.length
      ? `to_json(json_object(${attrs.map((a) => `${quoteLiteral(a)}, ${quoteIdent(a)}`).join(', ')}))`
      : `'{}'::JSON`;
    const atRaw = c.validFrom === undefined ? 'NULL' : textExpr(c.validFrom);
    const at = c.validFrom === undefined ? 'CAST(NULL AS TIMESTAMP)' : timestampExpr(atRaw, parse);
    return {
      select: `${uid} AS user_id, ${at} AS at_ts, ${payload} AS payload, ${rawText} AS raw,
        CASE WHEN ${uid} IS NULL THEN 'missing user id' ${badId}
             ${c.validFrom === undefined ? '' : `WHEN ${atRaw} IS NULL THEN 'missing valid-from time' WHEN ${at} IS NULL THEN 'unparseable valid-from time' WHEN ${at} < ${EARLIEST} THEN 'valid-from time before 1900'`} END AS reason`,
      column: `CASE WHEN ${uid} IS NULL OR ${objectId} OR regexp_matches(${uid}, ${CONTROL}) THEN ${uidCol} ELSE ${quoteLiteral(from[0] ?? 'validFrom')} END`,
    };
  }
  const c = (spec as LabelsSource).columns;
  checkColumns(
    file,
    columns,
    [...fieldColumns(c.user_id), ...fieldColumns(c.ts), ...fieldColumns(c.label)],
    'labels mapping',
  );
  const lab = `lower(${textExpr(c.label)})`;
  const atRaw = textExpr(c.ts);
  const at = timestampExpr(atRaw, parse);
  return {
    select: `${uid} AS user_id, ${at} AS at_ts,
        CASE WHEN ${lab} IN ${TRUE} THEN 1 WHEN ${lab} IN ${FALSE} THEN 0 END AS payload, ${rawText} AS raw,
        CASE WHEN ${uid} IS NULL THEN 'missing user id' ${badId}
             WHEN ${atRaw} IS NULL THEN 'missing label time'
             WHEN ${at} IS NULL THEN 'unparseable label time'
             WHEN ${at} < ${EARLIEST} THEN 'label time before 1900'
             WHEN ${lab} NOT IN ${TRUE} AND ${lab} NOT IN ${FALSE} OR ${lab} IS NULL THEN 'invalid label (use 1/0, true/false or yes/no)'
             WHEN ${uid} NOT IN (SELECT DISTINCT user_id FROM events) THEN 'unknown user (no events)' END AS reason`,
    column: `CASE WHEN ${uid} IS NULL OR ${objectId} OR regexp_matches(${uid}, ${CONTROL}) THEN ${uidCol}
                  WHEN ${atRaw} IS NULL OR ${at} IS NULL OR ${at} < ${EARLIEST} THEN ${quoteLiteral(fieldColumns(c.ts)[0] ?? 'ts')} ELSE 'label' END`,
  };
}

/**
 * Loads one customers or labels file inside the caller's transaction. Rejected rows go to `quarantine`; the
 * caller counts them there. Duplicates are counted by their own query and `loaded` by what reached the table.
 */
export async function loadSideTable(
  conn: DuckDBConnection,
  source: 'customers' | 'labels',
  file: string,
  spec: CustomersSource | LabelsSource,
  raw: { raw: string; columns: string[] },
  skipBefore: number,
  hooks: ExtractHooks = {},
): Promise<{ loaded: number; duplicates: number }> {
  const stage = tmpName('side');
  const atField =
    source === 'customers' ? (spec as CustomersSource).columns.validFrom : (spec as LabelsSource).columns.ts;
  const parse: TimestampParse =
    atField === undefined
      ? 'iso'
      : await resolveTimestamps(conn, {
          file,
          raw: raw.raw,
          v: textExpr(atField),
          column: fieldColumns(atField).join(' × ') || 'time',
          format: spec.timestampFormat,
        });
  const json = await isJsonRaw(conn, raw.raw);
  const { select, column } = stageSelect(source, file, spec, raw.columns, parse, json);
  await conn.run(
    `CREATE TEMP TABLE ${stage} AS SELECT __line, ${select}, ${column} AS bad_column FROM ${raw.raw} WHERE __line > ${skipBefore}`,
  );
  try {
    if (source === 'labels')
      // One user and time with both outcomes is a conflict, not a duplicate: neither row is trusted.
      await conn.run(
        `UPDATE ${stage} SET reason = 'conflicting labels for one user and time', bad_column = 'label'
         WHERE reason IS NULL AND (user_id, at_ts) IN (
           SELECT (user_id, at_ts) FROM ${stage} WHERE reason IS NULL GROUP BY user_id, at_ts HAVING count(DISTINCT payload) > 1)`,
      );
    await conn.run(
      `INSERT INTO quarantine (source, file, line, column_name, reason, raw) SELECT $s, $f, __line, bad_column, reason, left(raw, 2000) FROM ${stage} WHERE reason IS NOT NULL`,
      { s: source, f: file },
    );
    const firsts = `SELECT *, row_number() OVER (PARTITION BY user_id, at_ts ORDER BY __line) AS rn FROM ${stage} WHERE reason IS NULL`;
    const duplicates = await scalar(conn, `SELECT count(*) FROM (${firsts}) WHERE rn > 1`);
    await hooks.afterStaging?.(conn, stage);
    const [at, payload] = source === 'customers' ? ['valid_from', 'attributes'] : ['ts', 'label'];
    // A later file (or appended rows) restating a user at the same time replaces the earlier row.
    await conn.run(
      `DELETE FROM ${source} t USING (SELECT DISTINCT user_id, at_ts FROM ${stage} WHERE reason IS NULL) s
       WHERE t.user_id = s.user_id AND t.${at} IS NOT DISTINCT FROM s.at_ts`,
    );
    await conn.run(
      `INSERT INTO ${source} (user_id, ${at}, ${payload}, source_file, source_line)
       SELECT user_id, at_ts, payload, $f, __line FROM (${firsts}) WHERE rn = 1`,
      { f: file },
    );
    const loaded = await scalar(conn, `SELECT count(*) FROM ${source} WHERE source_file = $f AND source_line > $skip`, {
      f: file,
      skip: skipBefore,
    });
    return { loaded, duplicates };
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${stage}`);
  }
}
