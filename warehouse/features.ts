/**
 * Point-in-time features, labels and event sequences at a cutoff T, in DuckDB SQL.
 *
 * The rule that prevents leakage: every feature reads only `events_before` (ts < T); the label reads only
 * [T, T + horizon). A test adds and removes events at or after T and checks that no feature changes.
 * Output: features.parquet (one row per user: user_id, label, DOUBLE features), sequences.parquet (each user's
 * last N events as token ids, log time gaps and log revenue, left-padded), sequences.vocab.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { durationMs, type PipelineDefinition } from '../pipelines/schema';
import { quoteIdent, quoteLiteral, rows, usedParams } from './db';
import { columnSafe } from './names';
import { customerAttributeColumns, type AttributeTiming } from './attributes';
import { buildFunnelStages, funnelReport, type FunnelStageReport } from './funnel';

export type { FunnelStageReport } from './funnel';

export interface FeatureBuildResult {
  featuresPath: string;
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

import { DAY_MS, observedUntil } from './cutoffs';

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
 * Creates the temp table `features_out` (user_id, label, features) at the cutoff: the one definition of every
 * feature, shared by the batch path (buildFeatures) and online scoring (serve/online.ts), so both agree exactly.
 */
export async function createFeatureTable(
  conn: DuckDBConnection,
  def: PipelineDefinition,
  opts: FeatureTableOptions,
): Promise<FeatureTable> {
  await conn.run(`SET TimeZone = 'UTC'`);
  const eventsTable = quoteIdent(opts.eventsTable ?? 'events');
  const T = opts.cutoff.toISOString();
  const horizonMs = durationMs(def.label.horizon);
  const T2 = new Date(opts.cutoff.getTime() + horizonMs).toISOString();
  const p = { t: T };
  const unitDays = def.features.rfmUnit === 'weeks' ? 7 : 1;
  const purchase = def.label.event;
  const docs: Record<string, string> = {};

  // Everything before the cutoff, behind one view, so no later statement can see the future by mistake. A view,
  // not a copy: every reader scans `events` with the filter pushed down. (Views take no bound parameters; T is
  // an ISO string made here from a Date.)
  await conn.run(
    `CREATE OR REPLACE TEMP VIEW events_before AS SELECT * FROM ${eventsTable} WHERE ts < CAST(${quoteLiteral(T)} AS TIMESTAMP)`,
  );
  const activeFilter = def.features.activeWithin
    ? `WHERE user_id IN (SELECT DISTINCT user_id FROM events_before WHERE ts >= CAST($t AS TIMESTAMP) - to_milliseconds(${durationMs(def.features.activeWithin)}))`
    : '';

  const eventTypes =
    opts.eventTypes?.slice() ??
    (
      await rows(
        conn,
        `SELECT event, count(*) FROM events_before GROUP BY event ORDER BY count(*) DESC, event LIMIT 20`,
      )
    ).map((r) => String(r[0]));
  const funnel = def.features.funnel;
  for (const f of funnel) if (!eventTypes.includes(f)) eventTypes.push(f);
  if (!eventTypes.includes(purchase)) eventTypes.push(purchase);
  const ev: Record<string, string | number> = { ...p };
  eventTypes.forEach((e, i) => (ev[`e${i}`] = e));
  const eParam = (e: string) => `$e${eventTypes.indexOf(e)}`;

  // Sessions: the source's ids, else a new session after `sessionGap` of inactivity.
  const gapMs = durationMs(def.features.sessionGap);
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE sessions_before AS
     SELECT user_id, count(DISTINCT sid) AS n_sessions FROM (
       SELECT user_id, coalesce(session_id, CAST(sum(new_session) OVER (PARTITION BY user_id ORDER BY ts ROWS UNBOUNDED PRECEDING) AS VARCHAR)) AS sid
       FROM (SELECT user_id, ts, session_id,
               CASE WHEN lag(ts) OVER (PARTITION BY user_id ORDER BY ts) IS NULL
                      OR epoch_ms(ts) - epoch_ms(lag(ts) OVER (PARTITION BY user_id ORDER BY ts)) > ${gapMs} THEN 1 ELSE 0 END AS new_session
             FROM events_before))
     GROUP BY user_id`,
  );

  // Two kinds of feature: aggregates over the user's events (computed in one GROUP BY), and per-user values that
  // join the RFM and session tables to those aggregates (joined after aggregation: one row per user, not per event).
  const agg: string[] = [];
  const out: string[] = [];
  const add = (name: string, sql: string, doc: string) => {
    agg.push(`CAST(${sql} AS DOUBLE) AS ${quoteIdent(name)}`);
    out.push(`a.${quoteIdent(name)}`);
    docs[name] = doc;
  };
  const addPerUser = (name: string, sql: string, doc: string) => {
    out.push(`CAST(${sql} AS DOUBLE) AS ${quoteIdent(name)}`);
    docs[name] = doc;
  };
  const days = (a: string, b: string) => `((epoch_ms(${a}) - epoch_ms(${b})) / ${DAY_MS}.0)`;
  const tenure = days('CAST($t AS TIMESTAMP)', 'min(ts)');

  addPerUser(
    'rfm_frequency',
    `coalesce(r.purchase_days - 1, 0)`,
    `repeat purchase periods (days with a ${purchase}, minus the first), as in lifetimes`,
  );
  addPerUser(
    'rfm_recency',
    `coalesce(r.recency_days / ${unitDays}, 0)`,
    `${def.features.rfmUnit} between the first and the last ${purchase} day (0 with fewer than two)`,
  );
  addPerUser(
    'rfm_t',
    `coalesce(r.t_days / ${unitDays}, a.tenure_days / ${unitDays})`,
    `${def.features.rfmUnit} from the first ${purchase} day to the last day before the cutoff (age); since the first event when no ${purchase}`,
  );
  addPerUser(
    'rfm_monetary',
    `coalesce(r.repeat_value, 0)`,
    `mean value of the repeat ${purchase} days (0 without repeats), as lifetimes' monetary_value`,
  );
  add('days_since_last_event', days('CAST($t AS TIMESTAMP)', 'max(ts)'), 'days from the last event to the cutoff');
  add('tenure_days', tenure, 'days from the first event to the cutoff');
  add('n_events_total', 'count(*)', 'events before the cutoff');
  add('revenue_total', 'coalesce(sum(revenue), 0)', 'revenue before the cutoff (returns count negative)');
  add('distinct_items', 'count(DISTINCT item_id)', 'distinct items touched');
  addPerUser(
    'n_sessions',
    'coalesce(s.n_sessions, 0)',
    `sessions (source ids, else split after ${def.features.sessionGap} of inactivity)`,
  );
  addPerUser('events_per_session', 'a.n_events_total / greatest(coalesce(s.n_sessions, 1), 1)', 'events per session');
  add('active_days', 'count(DISTINCT CAST(ts AS DATE))', 'distinct days with an event');
  for (const e of eventTypes) {
    const c = columnSafe(e);
    add(`n_${c}_total`, `count(*) FILTER (WHERE event = ${eParam(e)})`, `"${e}" events before the cutoff`);
    add(
      `days_since_last_${c}`,
      `coalesce(${days('CAST($t AS TIMESTAMP)', `max(ts) FILTER (WHERE event = ${eParam(e)})`)}, ${tenure} + 1)`,
      `days since the last "${e}" (tenure + 1 when never)`,
    );
    for (const w of def.features.windows) {
      add(
        `n_${c}_${w}`,
        `count(*) FILTER (WHERE event = ${eParam(e)} AND ts >= CAST($t AS TIMESTAMP) - to_milliseconds(${durationMs(w)}))`,
        `"${e}" events in the ${w} before the cutoff`,
      );
    }
  }
  if (funnel.length) {
    await buildFunnelStages(conn, funnel, def.features.funnelWindow ? durationMs(def.features.funnelWindow) : null);
    addPerUser(
      'funnel_stage',
      'coalesce(fu.stage, 0)',
      `furthest funnel stage reached in order (1-based index in ${funnel.join(' → ')}, 0 = none; each stage after the previous one${def.features.funnelWindow ? ` within ${def.features.funnelWindow}` : ''})`,
    );
    for (let i = 1; i < funnel.length; i++) {
      const a = columnSafe(funnel[i - 1]);
      const b = columnSafe(funnel[i]);
      add(
        `ratio_${b}_per_${a}`,
        `count(*) FILTER (WHERE event = ${eParam(funnel[i])}) / greatest(count(*) FILTER (WHERE event = ${eParam(funnel[i - 1])}), 1)`,
        `"${funnel[i]}" events per "${funnel[i - 1]}" event`,
      );
    }
  }
  const hourBuckets: [string, number, number][] = [
    ['night', 0, 6],
    ['morning', 6, 12],
    ['afternoon', 12, 18],
    ['evening', 18, 24],
  ];
  for (const [name, a, b] of hourBuckets)
    add(
      `share_${name}`,
      `avg(CASE WHEN hour(ts) >= ${a} AND hour(ts) < ${b} THEN 1 ELSE 0 END)`,
      `share of events between ${a}:00 and ${b}:00 UTC`,
    );
  add(
    'share_weekend',
    `avg(CASE WHEN dayofweek(ts) IN (0, 6) THEN 1 ELSE 0 END)`,
    'share of events on Saturday or Sunday',
  );

  // RFM per lifetimes: purchases aggregated per day; the calibration period ends the day before the cutoff.
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

  const featuresSql = `CREATE OR REPLACE TEMP TABLE features_out AS
     WITH a AS (SELECT user_id, ${agg.join(',\n       ')} FROM events_before ${activeFilter} GROUP BY user_id),
          u AS (SELECT a.user_id, ${out.join(', ')} FROM a LEFT JOIN rfm_before r USING (user_id) LEFT JOIN sessions_before s USING (user_id) ${funnel.length ? 'LEFT JOIN funnel_users fu USING (user_id)' : ''})
     SELECT u.user_id, ${labelSql} AS label, u.* EXCLUDE (user_id) ${attrCols.length ? ', ' + attrCols.join(', ') : ''}
     FROM u ${cust ? 'LEFT JOIN customers_at c USING (user_id)' : ''} ${hasLabels && labelled ? `LEFT JOIN ${labelsInHorizon} l USING (user_id)` : ''}
     ORDER BY u.user_id`;
  await conn.run(featuresSql, usedParams(featuresSql, { ...ev, e: purchase, t: T, t2: T2 }));
  return { eventTypes, docs, attributes, labelled, T, T2 };
}

export async function buildFeatures(
  conn: DuckDBConnection,
  def: PipelineDefinition,
  opts: { cutoff: Date; outDir: string },
): Promise<FeatureBuildResult> {
  const started = performance.now();
  mkdirSync(opts.outDir, { recursive: true });
  const { eventTypes, docs, attributes, labelled, T, T2 } = await createFeatureTable(conn, def, opts);
  const purchase = def.label.event;
  const funnel = def.features.funnel;
  const featuresPath = join(opts.outDir, 'features.parquet');
  await conn.run(`COPY features_out TO ${quoteLiteral(featuresPath)} (FORMAT parquet, COMPRESSION zstd)`);
  const featureNames = (await rows(conn, `SELECT column_name FROM (DESCRIBE features_out)`))
    .map((r) => String(r[0]))
    .filter((c) => c !== 'user_id' && c !== 'label');
  const [users, positives] = (await rows(conn, `SELECT count(*), coalesce(sum(label), 0) FROM features_out`))[0].map(
    Number,
  );

  // Churn: the customers at T (did `customersOf` within the lookback) and whether they were active in
  // [T, T + horizon); their feature rows with that label are the churn model's training table.
  let churn: FeatureBuildResult['churn'] = null;
  if (def.churn && labelled) {
    const c = columnSafe(def.churn.customersOf ?? purchase);
    if (!featureNames.includes(`n_${c}_total`))
      throw Object.assign(new Error(`churn.customersOf: no "${def.churn.customersOf}" events before the cutoff ${T}`), {
        name: 'InputError',
      });
    const churnPath = join(opts.outDir, 'features-churn.parquet');
    const activeSql = `SELECT DISTINCT user_id FROM events WHERE ts >= CAST($t AS TIMESTAMP) AND ts < CAST($t2 AS TIMESTAMP)${def.churn.activeEvent ? ' AND event = $a' : ''}`;
    const churnSql = `COPY (
       SELECT f.user_id, CAST(a.user_id IS NULL AS INTEGER) AS label, f.* EXCLUDE (user_id, label)
       FROM features_out f LEFT JOIN (${activeSql}) a USING (user_id)
       WHERE f.${quoteIdent(`n_${c}_total`)} > 0 AND f.${quoteIdent(`days_since_last_${c}`)} <= $within
       ORDER BY f.user_id
     ) TO ${quoteLiteral(churnPath)} (FORMAT parquet, COMPRESSION zstd)`;
    await conn.run(
      churnSql,
      usedParams(churnSql, {
        t: T,
        t2: T2,
        a: def.churn.activeEvent ?? '',
        within: durationMs(def.churn.within) / DAY_MS,
      }),
    );
    const [n, pos] = (
      await rows(conn, `SELECT count(*), coalesce(sum(label), 0) FROM read_parquet(${quoteLiteral(churnPath)})`)
    )[0].map(Number);
    churn = { featuresPath: churnPath, users: n, positives: pos };
  }

  // Sequences for the LSTM: the last N events before T per user, left-padded with token 0.
  const vocab: Record<string, number> = {};
  [...eventTypes].sort().forEach((e, i) => (vocab[e] = i + 1));
  const vocabPath = join(opts.outDir, 'sequences.vocab.json');
  writeFileSync(vocabPath, JSON.stringify(vocab, null, 2) + '\n');
  const N = def.features.sequenceLength;
  const tokenCase = `CASE ${Object.entries(vocab)
    .map(([e, id]) => `WHEN event = ${quoteLiteral(e)} THEN ${id}`)
    .join(' ')} ELSE 0 END`;
  const sequencesPath = join(opts.outDir, 'sequences.parquet');
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

  // The ordered funnel over the users of the feature table.
  const funnelReportRows = await funnelReport(conn, funnel, 'features_out');
  await conn.run(`DROP VIEW IF EXISTS events_before`);
  for (const t of ['sessions_before', 'rfm_before', 'features_out', 'funnel_users', 'customers_at'])
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
