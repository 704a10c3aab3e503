/**
 * Point-in-time features, labels and event sequences at a cutoff T, in DuckDB SQL.
 *
 * The rule that prevents leakage: every feature reads only `events_before` (ts < T); the label reads only
 * [T, T + horizon). A test adds and removes events at or after T and checks that no feature changes.
 * Output: features.parquet (one row per user: user_id, label, DOUBLE features), sequences.parquet (each user's
 * last N events as token ids, log time gaps and log revenue, left-padded), sequences.vocab.json.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { durationMs, type PipelineDefinition } from '../pipelines/schema';
import { quoteIdent, quoteLiteral, rows, usedParams } from './db';
import { customerAttributeColumns, type AttributeTiming } from './attributes';
import { buildFunnelStages, funnelReport, type FunnelStageReport } from './funnel';

export type { FunnelStageReport } from './funnel';

export interface FeatureBuildResult {
  featuresPath: string;
  /** '' when the sequences were not asked for (no model of the run reads them). */
  sequencesPath: string;
  vocabPath: string;
  users: number;
  labelled: boolean;
  positives: number;
  labelRate: number | null;
  featureNames: string[];
  featureDocs: Record<string, string>;
  funnel: FunnelStageReport[];
  /** The churn model's training table (customers only, label = churned), when the pipeline defines churn and the horizon is observed. */
  churn: { featuresPath: string; users: number; positives: number } | null;
  /** Customer attributes used as features: read as of the cutoff, declared static, or none. */
  customerAttributes: AttributeTiming;
  seconds: number;
}

export { columnSafe } from './names';

import { observedUntil } from './cutoffs';
import { declareFeatures } from './feature-columns';
import { writeChurnTable, writeSequences } from './feature-outputs';

export { defaultCutoff, observedUntil, trainingCutoffFor } from './cutoffs';

/** Options of the feature table: the batch path uses the defaults; online scoring (serve/) sets all three. */
export interface FeatureTableOptions {
  cutoff: Date;
  /** The table (or view) holding the events: `events` in the warehouse; a request's history + recent events online. */
  eventsTable?: string;
  /** The event types to make per-type features for, in column order (default: the 20 most frequent before T). */
  eventTypes?: string[];
  /** Compute the label from the horizon (default true); online scoring has no future to read. */
  withLabel?: boolean;
  /** Write the rows to this Parquet file (zstd) and make `features_out` a view of it, instead of a temp table. */
  intoParquet?: string;
}

export interface FeatureTable {
  eventTypes: string[];
  docs: Record<string, string>;
  attributes: Awaited<ReturnType<typeof customerAttributeColumns>>;
  labelled: boolean;
  T: string;
  T2: string;
}

/**
 * Creates `features_out` (user_id, label, features) at the cutoff, from the feature declarations (feature-columns.ts
 * declareFeatures, feature-expr.ts) rendered to SQL: the one definition of every feature, which online scoring
 * (serve/online.ts) evaluates in memory, so both agree. Without `intoParquet` it is a temp table; with it (the batch
 * path) the rows go straight from the query into that Parquet file and `features_out` is a view of the file:
 * materialising 3.2 M wide rows in a temp table first (past DuckDB's memory limit) and copying them out again cost
 * more than the aggregation itself at 10 M events.
 */
export async function createFeatureTable(
  conn: DuckDBConnection,
  def: PipelineDefinition,
  opts: FeatureTableOptions,
): Promise<FeatureTable> {
  await conn.run(`SET TimeZone = 'UTC'`);
  const eventsTable = quoteIdent(opts.eventsTable ?? 'events');
  const T = opts.cutoff.toISOString();
  const T2 = new Date(opts.cutoff.getTime() + durationMs(def.label.horizon)).toISOString();
  const purchase = def.label.event;

  // Everything before the cutoff, behind one view, so no later statement can see the future by mistake. A view,
  // not a copy: every reader scans `events` with the filter pushed down. (Views take no bound parameters; T is
  // an ISO string made here from a Date.)
  await conn.run(
    `CREATE OR REPLACE TEMP VIEW events_before AS SELECT * FROM ${eventsTable} WHERE ts < CAST(${quoteLiteral(T)} AS TIMESTAMP)`,
  );
  const eventTypes = await featureEventTypes(conn, def, opts.eventTypes);
  const ev: Record<string, string | number> = { t: T };
  eventTypes.forEach((e, i) => (ev[`e${i}`] = e));

  await createSessionsTable(conn, durationMs(def.features.sessionGap));
  // Two kinds of feature: aggregates over the user's events (computed in one GROUP BY), and per-user values that
  // join the RFM and session tables to those aggregates (joined after aggregation: one row per user, not per event).
  const cols = declareFeatures(def, eventTypes, (r) => (r === 's.n_sessions' ? SESSIONS_SQL : r));
  const funnel = def.features.funnel;
  if (funnel.length)
    await buildFunnelStages(conn, funnel, def.features.funnelWindow ? durationMs(def.features.funnelWindow) : null);
  await createRfmTable(conn, purchase, T);
  const docs = cols.docs;

  // Customer attributes as of the cutoff (or declared static).
  const attributes = await customerAttributeColumns(conn, def, T, docs);
  const attrCols = attributes.columns;
  const cust = def.sources.customers;

  // Labels: the explicit labels source's outcomes in [T, T + horizon) (a user without one there: 0), else "did
  // <label.event> in [T, T + horizon)". Either way only once the loaded data covers T + horizon.
  const hasLabels = def.sources.labels !== undefined;
  const labelled = opts.withLabel !== false && (await observedUntil(conn, hasLabels)) >= Date.parse(T2);
  const labelSql = !labelled
    ? 'CAST(NULL AS INTEGER)'
    : hasLabels
      ? 'CAST(coalesce(l.label, 0) AS INTEGER)'
      : `CAST(u.user_id IN (SELECT user_id FROM ${eventsTable} WHERE event = $e AND ts >= CAST($t AS TIMESTAMP) AND ts < CAST($t2 AS TIMESTAMP)) AS INTEGER)`;
  const labelsInHorizon = `(SELECT user_id, max(label) AS label FROM labels WHERE ts >= CAST($t AS TIMESTAMP) AND ts < CAST($t2 AS TIMESTAMP) GROUP BY user_id)`;
  const activeFilter = def.features.activeWithin
    ? `WHERE user_id IN (SELECT DISTINCT user_id FROM events_before WHERE ts >= CAST($t AS TIMESTAMP) - to_milliseconds(${durationMs(def.features.activeWithin)}))`
    : '';

  const selectSql = `WITH a AS (SELECT user_id, ${cols.agg.join(',\n       ')} FROM events_before ${activeFilter} GROUP BY user_id),
          d AS (SELECT user_id, ${cols.distinct.join(', ')}, ${SESSION_COUNTS} FROM events_before ${activeFilter} GROUP BY user_id),
          u AS (SELECT a.user_id, ${cols.out.join(', ')} FROM a JOIN d USING (user_id) LEFT JOIN rfm_before r USING (user_id) LEFT JOIN sessions_split s USING (user_id) ${funnel.length ? 'LEFT JOIN funnel_users fu USING (user_id)' : ''})
     SELECT u.user_id, ${labelSql} AS label, u.* EXCLUDE (user_id) ${attrCols.length ? ', ' + attrCols.join(', ') : ''}
     FROM u ${cust ? 'LEFT JOIN customers_at c USING (user_id)' : ''} ${hasLabels && labelled ? `LEFT JOIN ${labelsInHorizon} l USING (user_id)` : ''}
     ORDER BY u.user_id`;
  const into = opts.intoParquet;
  const featuresSql = into
    ? `COPY (${selectSql}) TO ${quoteLiteral(into)} (FORMAT parquet, COMPRESSION zstd)`
    : `CREATE OR REPLACE TEMP TABLE features_out AS ${selectSql}`;
  await conn.run(featuresSql, usedParams(featuresSql, { ...ev, e: purchase, t: T, t2: T2 }));
  if (into)
    await conn.run(`CREATE OR REPLACE TEMP VIEW features_out AS SELECT * FROM read_parquet(${quoteLiteral(into)})`);
  return { eventTypes, docs, attributes, labelled, T, T2 };
}

/** The event types with features of their own: given, or the 20 most frequent before T; then funnel and label. */
async function featureEventTypes(
  conn: DuckDBConnection,
  def: PipelineDefinition,
  given: string[] | undefined,
): Promise<string[]> {
  const eventTypes =
    given?.slice() ??
    (
      await rows(
        conn,
        `SELECT event, count(*) FROM events_before GROUP BY event ORDER BY count(*) DESC, event LIMIT 20`,
      )
    ).map((r) => String(r[0]));
  for (const f of def.features.funnel) if (!eventTypes.includes(f)) eventTypes.push(f);
  if (!eventTypes.includes(def.label.event)) eventTypes.push(def.label.event);
  return eventTypes;
}

/**
 * A user's sessions (the declaration's `s.n_sessions`): the distinct source session ids when every event of the
 * user has one, else the count of createSessionsTable. The ids are counted beside the other DISTINCT counts (`d`);
 * only users with an event without an id need the time-ordered split. At 10 M events with ids on every event the
 * two window passes and the join of the old sessions table cost 7 CPU-s per cutoff; the extra DISTINCT costs 2.
 */
const SESSION_COUNTS = `count(DISTINCT session_id) AS __source_sessions, bool_or(session_id IS NULL) AS __unsessioned`;
const SESSIONS_SQL = `CASE WHEN d.__unsessioned THEN s.n_sessions ELSE d.__source_sessions END`;

/**
 * `sessions_split`: sessions of the users with an event without a session id, before T: in time order, a new
 * session after `gapMs` of inactivity; an event's session is its source id, else that running count (as text, so
 * it can meet a source id "3": serve's sessionCount does the same). Users whose events all carry an id are not in it.
 */
async function createSessionsTable(conn: DuckDBConnection, gapMs: number): Promise<void> {
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE sessions_split AS
     SELECT user_id, count(DISTINCT sid) AS n_sessions FROM (
       SELECT user_id, coalesce(session_id, CAST(sum(new_session) OVER (PARTITION BY user_id ORDER BY ts ROWS UNBOUNDED PRECEDING) AS VARCHAR)) AS sid
       FROM (SELECT user_id, ts, session_id,
               CASE WHEN lag(ts) OVER (PARTITION BY user_id ORDER BY ts) IS NULL
                      OR epoch_ms(ts) - epoch_ms(lag(ts) OVER (PARTITION BY user_id ORDER BY ts)) > ${gapMs} THEN 1 ELSE 0 END AS new_session
             FROM events_before
             WHERE user_id IN (SELECT user_id FROM events_before WHERE session_id IS NULL)))
     GROUP BY user_id`,
  );
}

/** RFM per lifetimes: purchases aggregated per day; the calibration period ends the day before the cutoff. */
async function createRfmTable(conn: DuckDBConnection, purchase: string, T: string): Promise<void> {
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE rfm_before AS
     WITH d AS (SELECT user_id, CAST(ts AS DATE) AS day, sum(coalesce(revenue, 0)) AS value FROM events_before WHERE event = $e GROUP BY ALL),
          f AS (SELECT user_id, min(day) AS first_day FROM d GROUP BY user_id)
     SELECT d.user_id, count(*) AS purchase_days, datediff('day', min(d.day), max(d.day)) AS recency_days,
            datediff('day', any_value(f.first_day), CAST(CAST($t AS TIMESTAMP) - INTERVAL 1 MICROSECOND AS DATE)) AS t_days,
            avg(d.value) FILTER (WHERE d.day > f.first_day) AS repeat_value
     FROM d JOIN f USING (user_id) GROUP BY d.user_id`,
    { e: purchase, t: T },
  );
}

export async function buildFeatures(
  conn: DuckDBConnection,
  def: PipelineDefinition,
  /** `sequences`: also write the LSTM's sequences.parquet (default true; a third of the step's CPU at 10 M events). */
  opts: { cutoff: Date; outDir: string; sequences?: boolean },
): Promise<FeatureBuildResult> {
  const started = performance.now();
  mkdirSync(opts.outDir, { recursive: true });
  const featuresPath = join(opts.outDir, 'features.parquet');
  const { eventTypes, docs, attributes, labelled, T, T2 } = await createFeatureTable(conn, def, {
    cutoff: opts.cutoff,
    intoParquet: featuresPath,
  });
  const featureNames = (await rows(conn, `SELECT column_name FROM (DESCRIBE features_out)`))
    .map((r) => String(r[0]))
    .filter((c) => c !== 'user_id' && c !== 'label');
  const [users, positives] = (await rows(conn, `SELECT count(*), coalesce(sum(label), 0) FROM features_out`))[0].map(
    Number,
  );
  const churn =
    def.churn && labelled ? await writeChurnTable(conn, def, { T, T2, featureNames, outDir: opts.outDir }) : null;
  const { sequencesPath, vocabPath } = await writeSequences(conn, def, eventTypes, opts.outDir, opts.sequences ?? true);

  // The ordered funnel over the users of the feature table: every user with events before T, unless an activity
  // filter (features.activeWithin) keeps fewer.
  const funnelReportRows = await funnelReport(
    conn,
    def.features.funnel,
    def.features.activeWithin ? 'features_out' : null,
  );
  for (const v of ['events_before', 'features_out']) await conn.run(`DROP VIEW IF EXISTS ${v}`);
  for (const t of ['sessions_split', 'rfm_before', 'funnel_users', 'customers_at'])
    await conn.run(`DROP TABLE IF EXISTS ${t}`);

  return {
    featuresPath,
    sequencesPath,
    vocabPath,
    users,
    labelled,
    positives: labelled ? positives : 0,
    labelRate: labelled && users > 0 ? positives / users : null,
    featureNames,
    featureDocs: Object.fromEntries(Object.entries(docs).filter(([k]) => featureNames.includes(k))),
    funnel: funnelReportRows,
    customerAttributes: attributes.columns.length ? attributes.timing : null,
    churn,
    seconds: (performance.now() - started) / 1000,
  };
}
