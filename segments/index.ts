/**
 * Segments and campaign exports for one run, in DuckDB: RFM segments, propensity deciles, funnel stage and
 * behavioural clusters for every scored user; then each campaign's list as CSV + Parquet (temp name + rename,
 * byte-identical for the same inputs), a manifest with checksums, and a change report against the previous run.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { PipelineDefinition } from '../pipelines/schema';
import { writeJsonAtomic } from '../infra/atomic';
import { sha256FileAsync } from '../registry';
import { quoteIdent, quoteLiteral, withDuckDB } from '../warehouse/db';
import { columnSafe } from '../warehouse/features';
import { clusterDistancesSql, clusterInputsSql, clusterSql, fitClusters, type ClusterModel } from './clusters';
import { randomRate, writeList, type CampaignExport, type ListContext } from './export-list';
import { copyAtomic, percentSql as percent, reasonPhraseSql } from './lists';
import { listsManifest } from './manifest';
import { clusterInWords, segmentListSpecs } from './segment-lists';
import { RFM_SEGMENTS, rfmSegmentSql } from './rfm';
import { compareWithPrevious, type ChangeReport } from './changes';
import { usersScan, type UsersScan } from './scan';

export type { ChangeReport } from './changes';
export { usersScan, type UsersScan } from './scan';

export type { CampaignExport } from './export-list';
export { copyAtomic } from './lists';

export interface ClusterDescription {
  cluster: number;
  size: number;
  distinguishing: { feature: string; z: number }[];
  /** The distinguishing features in words ("recently active, many visits, high spend"). */
  inWords: string;
}

export interface SegmentsResult {
  segmentsPath: string;
  segmentSizes: {
    rfm: Record<string, number>;
    deciles: Record<string, number>;
    funnel: Record<string, number>;
    clusters: Record<string, number>;
  };
  /** k, its silhouette, and how many users the centroids were fitted on (every user is in its nearest cluster). */
  clusters: { k: number; silhouette: number; fittedOn: number; descriptions: ClusterDescription[] };
  campaigns: CampaignExport[];
  manifestPath: string;
  changeReport: ChangeReport | null;
  sampleRows: Record<string, unknown>[];
}

const CLUSTER_FEATURES = [
  'rfm_frequency',
  'rfm_monetary',
  'days_since_last_event',
  'n_events_total',
  'n_sessions',
  'distinct_items',
  'funnel_stage',
  'revenue_total',
];

function jsonSafe(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && 'toString' in v && !Array.isArray(v)) return String(v);
  return v;
}

async function countsBy(conn: DuckDBConnection, col: string): Promise<Record<string, number>> {
  const r = await conn.runAndReadAll(`SELECT CAST(${col} AS VARCHAR), count(*) FROM segments GROUP BY 1 ORDER BY 1`);
  return Object.fromEntries(r.getRows().map(([k, n]) => [String(k), Number(n)]));
}

/** The export salt: from the environment; in production mode a missing salt is an error, never a constant. */
export function exportSalt(def: PipelineDefinition): { salt: string; source: string } {
  const fromEnv = process.env[def.export.saltEnv];
  if (fromEnv) return { salt: fromEnv, source: `environment variable ${def.export.saltEnv}` };
  if (process.env.NODE_ENV === 'production' || process.env.FUNNELCAST_PRODUCTION === '1') {
    throw Object.assign(
      new Error(`hashUserIds is on but ${def.export.saltEnv} is not set; production exports never use a default salt`),
      { name: 'InputError' },
    );
  }
  return {
    salt: `funnelcast-dev-salt:${def.name}`,
    source: 'development default derived from the pipeline name (set ' + def.export.saltEnv + ' in production)',
  };
}

export interface SegmentsOptions {
  definition: PipelineDefinition;
  runId: string;
  cutoff: Date;
  featuresPath: string;
  scoresPath: string;
  reasonsPath?: string;
  /** clv.parquet (activities/clv.ts) when the pipeline defines clv: customers' value columns join the segments. */
  clvPath?: string;
  /** uplift.parquet (user_id, campaign, uplift) when a campaign ranks by uplift (lift/pipeline-uplift.ts). */
  upliftPath?: string;
  outDir: string;
  modelVersion: string;
  previousRunDir?: string;
  seed: number;
  /** The features carry the label of [cutoff, cutoff + horizon) (a past cutoff): measure the lists' realised conversions. */
  outcomesObserved?: boolean;
  /** Test hook (as the registry's crashBeforeChampion): fail after writing this file's temp copy, before its rename. */
  crashBeforeRenameOf?: string;
  /** Users the clusters are fitted on at most (segments/clusters.ts; default CLUSTER_SAMPLE). */
  clusterSample?: number;
  /** Interrupts the statements this runs on a DuckDB of its own (the caller interrupts its connection's). */
  signal?: AbortSignal;
}

/** The columns a Parquet file has. */
async function columnsOf(conn: DuckDBConnection, file: string): Promise<Set<string>> {
  const r = await conn.runAndReadAll(
    `SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(${quoteLiteral(file)}))`,
  );
  return new Set(r.getRows().map((row) => String(row[0])));
}

/** One row per scored user: scores, the inputs of the segment rules, reasons in words, and the clusters' inputs. */
function baseSelect(
  o: SegmentsOptions,
  featCols: Set<string>,
  scoreCols: Set<string>,
  km: ClusterModel,
  scan: UsersScan,
  reasons: boolean,
): { base: string; rankInputs: string } {
  const def = o.definition;
  const purchase = columnSafe(def.label.event);
  const funnel = def.features.funnel;
  const col = (name: string, fallback = '0') => (featCols.has(name) ? `f.${quoteIdent(name)}` : fallback);
  const recency = `CASE WHEN ${col(`n_${purchase}_total`)} > 0 THEN ${col(`days_since_last_${purchase}`, col('days_since_last_event'))} ELSE ${col('days_since_last_event')} END`;
  const stageName = funnel.length
    ? `CASE ${funnel.map((st, i) => `WHEN ${col('funnel_stage')} = ${i + 1} THEN ${quoteLiteral(st)}`).join(' ')} ELSE 'none' END`
    : `'none'`;
  const clv = !!o.clvPath && existsSync(o.clvPath);
  const churnRisk = scoreCols.has('churn_risk') ? 's.churn_risk' : 'CAST(NULL AS DOUBLE)';
  const cols = [
    's.user_id',
    's.propensity',
    `${churnRisk} AS churn_risk`,
    `${recency} AS recency_days`,
    `${col(`n_${purchase}_total`)} AS frequency`,
    `${col('revenue_total')} AS monetary`,
    ...(scan.positional ? ['f.file_row_number AS __row'] : []),
    `${col('days_since_last_event')} AS last_event_age_days`,
    `${stageName} AS funnel_stage`,
    reasons ? 'r.reason_1, r.reason_2, r.reason_3' : 'NULL AS reason_1, NULL AS reason_2, NULL AS reason_3',
    clv
      ? 'v.clv, v.p_alive, v.expected_purchases'
      : 'CAST(NULL AS DOUBLE) AS clv, CAST(NULL AS DOUBLE) AS p_alive, CAST(NULL AS DOUBLE) AS expected_purchases',
    ...[1, 2, 3].map(
      (k) => `${reasonPhraseSql(def, featCols, reasons ? `r.reason_${k}` : 'CAST(NULL AS VARCHAR)')} AS why_${k}`,
    ),
    ...clusterInputsSql(km, 'f'),
  ];
  const base = `SELECT ${cols.join(', ')} FROM ${reasons ? scan.withReasons : scan.from}
    ${clv ? `LEFT JOIN read_parquet(${quoteLiteral(o.clvPath!)}) v ON v.user_id = s.user_id` : ''}`;
  // What the ranks need, alone (user id, propensity, churn risk, recency, frequency, monetary[, row]).
  const rankInputs = `SELECT ${cols.slice(0, scan.positional ? 7 : 6).join(', ')} FROM ${scan.from}`;
  return { base, rankInputs };
}

/**
 * segments.parquet in one statement (no intermediate copies of every user): RFM quintiles, propensity and
 * churn-risk deciles, the nearest cluster, the RFM segment. The rows go from the query straight into the file, and
 * `segments` is a view of it for the lists and counts that follow: a temp table of every user's 27 columns (the
 * reasons in words among them) cost more than computing them at 4.3 M users, spilling past DuckDB's memory limit,
 * and was then copied out again (issue 17).
 */
async function writeSegments(
  conn: DuckDBConnection,
  o: SegmentsOptions,
  sel: { base: string; rankInputs: string },
  km: ClusterModel,
  segmentsPath: string,
  scan: UsersScan,
) {
  // Positional: on a DuckDB of its own, with one thread. A positional scan runs on one thread anyway, and with two
  // the same COPY took 10 or 22 CPU-s from one run to the next (at 4.3 M users), never less wall time (issue 17).
  if (scan.positional)
    await withDuckDB(
      ':memory:',
      async (own) => {
        await own.run('SET threads = 1');
        await rankAndWrite(own, o, sel, km, segmentsPath, scan);
      },
      o.signal,
    );
  else await rankAndWrite(conn, o, sel, km, segmentsPath, scan);
  await conn.run(`CREATE OR REPLACE TEMP VIEW segments AS SELECT * FROM read_parquet(${quoteLiteral(segmentsPath)})`);
}

/** The ranks (temp table seg_ranks), then every user's row into segments.parquet. */
async function rankAndWrite(
  conn: DuckDBConnection,
  o: SegmentsOptions,
  sel: { base: string; rankInputs: string },
  km: ClusterModel,
  segmentsPath: string,
  scan: UsersScan,
) {
  // The ranks are computed over the few columns they need and joined back: a window carries every column of its
  // input through its sort, and the reasons in words made each sort several times dearer. F and M rank only the
  // buyers (everyone else scores 1), a few percent of the users, instead of sorting all of them twice more; the
  // churn deciles rank only the customers with a churn risk (the same ntile as over a partition of them, without
  // sorting the millions without one). Ties are broken by the key: the feature table's row is its order by user
  // id, and cheaper to sort than the id.
  const key = scan.key;
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE seg_ranks AS
     WITH inputs AS MATERIALIZED (${sel.rankInputs}),
     everyone AS (
       SELECT ${key},
         CAST(6 - ntile(5) OVER (PARTITION BY frequency > 0 ORDER BY recency_days, ${key}) AS INTEGER) AS rfm_r,
         CAST(11 - ntile(10) OVER (ORDER BY propensity, ${key}) AS INTEGER) AS propensity_decile,
         100.0 * percent_rank() OVER (ORDER BY propensity) AS propensity_percentile
       FROM inputs),
     churners AS (
       SELECT ${key}, CAST(11 - ntile(10) OVER (ORDER BY churn_risk, ${key}) AS INTEGER) AS churn_risk_decile
       FROM inputs WHERE churn_risk IS NOT NULL),
     buyers AS (
       SELECT ${key},
         CAST(ntile(5) OVER (ORDER BY frequency, monetary, ${key}) AS INTEGER) AS rfm_f,
         CAST(ntile(5) OVER (ORDER BY monetary, ${key}) AS INTEGER) AS rfm_m
       FROM inputs WHERE frequency > 0)
     SELECT everyone.*, churn_risk_decile, coalesce(rfm_f, 1) AS rfm_f, coalesce(rfm_m, 1) AS rfm_m
     FROM everyone LEFT JOIN churners USING (${key}) LEFT JOIN buyers USING (${key})
     ${scan.positional ? `ORDER BY ${key}` : ''}`,
  );
  // Positional: the ranks, in row order, line up with the base rows; but a clv join may reorder those, so then
  // they are joined by row and sorted.
  const clv = !!o.clvPath && existsSync(o.clvPath);
  const byPosition = scan.positional && !clv;
  const ranked = byPosition
    ? `(${sel.base}) POSITIONAL JOIN (SELECT * EXCLUDE (__row) FROM seg_ranks)`
    : `(${sel.base}) JOIN seg_ranks USING (${key})`;
  const order = byPosition ? '' : `ORDER BY ${key}`;
  await copyAtomic(
    conn,
    `WITH dist AS (SELECT *, ${clusterDistancesSql(km)} FROM ${ranked}),
     fm AS (SELECT *, ${clusterSql(km)} AS cluster, CAST(round((rfm_f + rfm_m) / 2.0 + 0.01) AS INTEGER) AS rfm_fm FROM dist)
     SELECT user_id, propensity, propensity_decile, propensity_percentile, churn_risk, churn_risk_decile, rfm_r, rfm_f, rfm_m, rfm_fm,
            recency_days, frequency, monetary, last_event_age_days, funnel_stage, cluster,
            reason_1, reason_2, reason_3, why_1, why_2, why_3, clv, p_alive, expected_purchases,
            CAST(${quoteLiteral(o.modelVersion)} AS VARCHAR) AS model_version, ${rfmSegmentSql('rfm_r', 'rfm_fm')} AS rfm_segment
     FROM fm ${order}`,
    segmentsPath,
    'parquet',
    o.crashBeforeRenameOf,
  );
  await conn.run('DROP TABLE seg_ranks');
}

/** Each cluster's size and its three most distinguishing features (centroid furthest from the mean, in z). */
function describeClusters(km: ClusterModel, sizes: Record<string, number>): ClusterDescription[] {
  if (!km.k) return [];
  return km.centroids
    .map((c, k) => ({
      cluster: k + 1,
      size: sizes[String(k + 1)] ?? 0,
      distinguishing: km.columns
        .map((f, j) => ({ feature: f, z: c[j] }))
        .sort((a, b) => Math.abs(b.z) - Math.abs(a.z))
        .slice(0, 3),
    }))
    .map((d) => ({ ...d, inWords: clusterInWords(d.distinguishing) }));
}

/** Every campaign's list, then one list per RFM segment / cluster when export.segmentLists asks for them. */
async function writeLists(
  conn: DuckDBConnection,
  o: SegmentsOptions,
  descriptions: ClusterDescription[],
): Promise<{ campaigns: CampaignExport[]; saltSource: string }> {
  const def = o.definition;
  const { salt, source: saltSource } = def.export.hashUserIds ? exportSalt(def) : { salt: '', source: 'not hashed' };
  const ctx: ListContext = {
    definition: def,
    cutoff: o.cutoff,
    outDir: o.outDir,
    featuresPath: o.featuresPath,
    modelVersion: o.modelVersion,
    outcomesObserved: o.outcomesObserved,
    crashBeforeRenameOf: o.crashBeforeRenameOf,
    idExpr: def.export.hashUserIds ? `sha256($salt || user_id)` : 'user_id',
    salt: def.export.hashUserIds ? salt : undefined,
    piiCols: def.sources.customers && def.export.allowPii.length ? def.export.allowPii : [],
    // Computed once for every list (it joins every user with the features), not once per list.
    randomRate: o.outcomesObserved ? await randomRate(conn, o.featuresPath) : undefined,
  };
  // What rankBy "uplift" orders by (segments/export-list.ts); empty when no campaign ranks by uplift.
  const byUplift = def.campaigns.find((c) => c.rankBy === 'uplift');
  if (byUplift && !o.upliftPath)
    throw new Error(`campaign "${byUplift.name}" ranks by uplift, but the run has no uplift scores (the uplift step)`);
  await conn.run(
    o.upliftPath
      ? `CREATE OR REPLACE TEMP TABLE uplift_scores AS SELECT * FROM read_parquet(${quoteLiteral(o.upliftPath)})`
      : `CREATE OR REPLACE TEMP TABLE uplift_scores (user_id VARCHAR, campaign VARCHAR, uplift DOUBLE)`,
  );
  const campaigns: CampaignExport[] = [];
  for (const c of [...def.campaigns, ...segmentListSpecs(def.export.segmentLists, descriptions)])
    campaigns.push(await writeList(conn, ctx, c));
  return { campaigns, saltSource };
}

/** Every user has a propensity decile: their count is the number of users segmented. */
const users = (deciles: Record<string, number>) => Object.values(deciles).reduce((a, b) => a + b, 0);

/** The ten most likely buyers as the report's sample rows. */
async function sampleRowsOf(conn: DuckDBConnection): Promise<Record<string, unknown>[]> {
  const sample = await conn.runAndReadAll(
    `SELECT user_id AS "user", CAST(${percent('propensity')} AS VARCHAR) || '%' AS chance, propensity_decile AS "decile (1 = top)", rfm_segment AS "RFM segment", funnel_stage AS "funnel stage", cluster, why_1 AS "reason 1", why_2 AS "reason 2", why_3 AS "reason 3" FROM segments ORDER BY propensity DESC, user_id LIMIT 10`,
  );
  return sample.getRowObjects().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, jsonSafe(v)])));
}

/**
 * Segments for every scored user (segments.parquet), each list's files, the manifest and the change report. All
 * of it in DuckDB: no user is held as a JS value; only the clusters' sample is read out (segments/clusters.ts).
 */
export async function buildSegments(conn: DuckDBConnection, opts: SegmentsOptions): Promise<SegmentsResult> {
  const def = opts.definition;
  mkdirSync(join(opts.outDir, 'exports'), { recursive: true });
  const featCols = await columnsOf(conn, opts.featuresPath);
  const scoreCols = await columnsOf(conn, opts.scoresPath);
  const reasons = !!opts.reasonsPath && existsSync(opts.reasonsPath);
  const scan = await usersScan(conn, opts, reasons);
  // Behavioural clusters: k-means on standardised log features, fitted on a sample on worker threads.
  const km = await fitClusters(conn, {
    relation: scan.features,
    alias: 'f',
    columns: CLUSTER_FEATURES.filter((c) => featCols.has(c)),
    seed: opts.seed,
    given: def.segments.clusters,
    sample: opts.clusterSample,
  });
  const segmentsPath = join(opts.outDir, 'segments.parquet');
  await writeSegments(conn, opts, baseSelect(opts, featCols, scoreCols, km, scan, reasons), km, segmentsPath, scan);

  const segmentSizes = {
    rfm: await countsBy(conn, 'rfm_segment'),
    deciles: await countsBy(conn, 'propensity_decile'),
    funnel: await countsBy(conn, 'funnel_stage'),
    clusters: await countsBy(conn, 'cluster'),
  };
  for (const s of RFM_SEGMENTS) segmentSizes.rfm[s] ??= 0;
  const descriptions = describeClusters(km, segmentSizes.clusters);
  const { campaigns, saltSource } = await writeLists(conn, opts, descriptions);
  const sampleRows = await sampleRowsOf(conn);
  const changeReport = opts.previousRunDir ? await compareWithPrevious(conn, opts.previousRunDir, campaigns) : null;
  const manifestPath = join(opts.outDir, 'exports', 'manifest.json');
  writeJsonAtomic(
    manifestPath,
    listsManifest(opts, campaigns, saltSource, {
      users: users(segmentSizes.deciles),
      sha256: await sha256FileAsync(segmentsPath),
    }),
  );
  for (const t of ['campaign_rows', 'campaign_ids', 'campaign_csv', 'uplift_scores'])
    await conn.run(`DROP TABLE IF EXISTS ${t}`);
  await conn.run('DROP VIEW IF EXISTS segments');
  return {
    segmentsPath,
    segmentSizes,
    clusters: { k: km.k ?? 1, silhouette: km.silhouette, fittedOn: km.fittedOn, descriptions },
    campaigns,
    manifestPath,
    changeReport,
    sampleRows,
  };
}
