/**
 * The files written beside features.parquet from the `features_out` table: the churn model's training table and
 * the users' event sequences for the LSTM (with their vocabulary).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { durationMs, type PipelineDefinition } from '../pipelines/schema';
import { quoteIdent, quoteLiteral, rows, usedParams } from './db';
import { columnSafe } from './names';
import { DAY_MS } from './cutoffs';
import type { FeatureBuildResult } from './features';

/**
 * Churn: the customers at T (did `customersOf` within the lookback) and whether they were active in
 * [T, T + horizon); their feature rows with that label are the churn model's training table.
 */
export async function writeChurnTable(
  conn: DuckDBConnection,
  def: PipelineDefinition,
  at: { T: string; T2: string; featureNames: string[]; outDir: string },
): Promise<FeatureBuildResult['churn']> {
  const churnDef = def.churn!;
  const c = columnSafe(churnDef.customersOf ?? def.label.event);
  if (!at.featureNames.includes(`n_${c}_total`))
    throw Object.assign(new Error(`churn.customersOf: no "${churnDef.customersOf}" events before the cutoff ${at.T}`), {
      name: 'InputError',
    });
  const churnPath = join(at.outDir, 'features-churn.parquet');
  const activeSql = `SELECT DISTINCT user_id FROM events WHERE ts >= CAST($t AS TIMESTAMP) AND ts < CAST($t2 AS TIMESTAMP)${churnDef.activeEvent ? ' AND event = $a' : ''}`;
  const churnSql = `COPY (
       SELECT f.user_id, CAST(a.user_id IS NULL AS INTEGER) AS label, f.* EXCLUDE (user_id, label)
       FROM features_out f LEFT JOIN (${activeSql}) a USING (user_id)
       WHERE f.${quoteIdent(`n_${c}_total`)} > 0 AND f.${quoteIdent(`days_since_last_${c}`)} <= $within
       ORDER BY f.user_id
     ) TO ${quoteLiteral(churnPath)} (FORMAT parquet, COMPRESSION zstd)`;
  await conn.run(
    churnSql,
    usedParams(churnSql, {
      t: at.T,
      t2: at.T2,
      a: churnDef.activeEvent ?? '',
      within: durationMs(churnDef.within) / DAY_MS,
    }),
  );
  const [n, pos] = (
    await rows(conn, `SELECT count(*), coalesce(sum(label), 0) FROM read_parquet(${quoteLiteral(churnPath)})`)
  )[0].map(Number);
  return { featuresPath: churnPath, users: n, positives: pos };
}

/**
 * Sequences for the LSTM: the last N events before T per user, with the vocabulary of their tokens. The vocabulary
 * is always written (it is small); the sequences only when `write` (sequencesPath is then '').
 */
export async function writeSequences(
  conn: DuckDBConnection,
  def: PipelineDefinition,
  eventTypes: string[],
  outDir: string,
  write = true,
): Promise<{ sequencesPath: string; vocabPath: string }> {
  const vocab: Record<string, number> = {};
  [...eventTypes].sort().forEach((e, i) => (vocab[e] = i + 1));
  const vocabPath = join(outDir, 'sequences.vocab.json');
  writeFileSync(vocabPath, JSON.stringify(vocab, null, 2) + '\n');
  if (!write) return { sequencesPath: '', vocabPath };
  const N = def.features.sequenceLength;
  const tokenCase = `CASE ${Object.entries(vocab)
    .map(([e, id]) => `WHEN event = ${quoteLiteral(e)} THEN ${id}`)
    .join(' ')} ELSE 0 END`;
  const sequencesPath = join(outDir, 'sequences.parquet');
  // One window pass orders each user's events (ties broken by file and line, so the output is deterministic);
  // the last N are gathered as one list of structs sorted by position: ordered list() aggregates, one per
  // column, cost several times more. Lists are stored ragged (only real events, oldest first) with `padded_to`
  // = N: readers left-pad with token 0 when they build a batch. Writing the padding into Parquet made this step
  // 10× slower (most users have a handful of events). Rows are in no particular order: readers sort by user_id.
  await conn.run(
    `COPY (
       WITH w AS (
         SELECT user_id, ${tokenCase} AS token, CAST(ln(1 + greatest(coalesce(revenue, 0), 0)) AS FLOAT) AS logrev,
                CAST(ln(1 + coalesce((epoch_ms(ts) - epoch_ms(lag(ts) OVER w)) / 3600000.0, 0)) AS FLOAT) AS gap,
                row_number() OVER w AS k, count(*) OVER (PARTITION BY user_id) AS n
         FROM events_before WINDOW w AS (PARTITION BY user_id ORDER BY ts, event, source_file, source_line)),
       s AS (SELECT user_id, list_sort(list({'k': k, 't': token, 'g': gap, 'r': logrev})) AS l, count(*) AS len
             FROM w WHERE k > n - ${N} GROUP BY user_id)
       SELECT f.user_id, f.label, list_transform(s.l, x -> x.t) AS tokens, list_transform(s.l, x -> x.g) AS gaps,
              list_transform(s.l, x -> x.r) AS revenue, CAST(s.len AS INTEGER) AS length, ${N} AS padded_to
       FROM features_out f JOIN s USING (user_id)
     ) TO ${quoteLiteral(sequencesPath)} (FORMAT parquet, COMPRESSION zstd)`,
  );
  return { sequencesPath, vocabPath };
}
