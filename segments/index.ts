/**
 * Segments and campaign exports for one run, in DuckDB: RFM segments, propensity deciles, funnel stage and
 * behavioural clusters for every scored user; then each campaign's list as CSV + Parquet (temp name + rename,
 * byte-identical for the same inputs), a manifest with checksums, and a change report against the previous run.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { PipelineDefinition } from '../pipelines/schema';
import { writeJsonAtomic } from '../infra/atomic';
import { sha256File } from '../registry';
import { quoteIdent, quoteLiteral } from '../warehouse/db';
import { columnSafe } from '../warehouse/features';
import { computeClustersInThread, type Clusters } from './clusters';
import { writeList, type CampaignExport, type ListContext } from './export-list';
import { copyAtomic, percentSql as percent, reasonPhraseSql, DECILE_CONVENTION } from './lists';
import { clusterInWords, segmentListSpecs } from './segment-lists';
import { RFM_SEGMENTS, rfmSegmentSql } from './rfm';
import { compareWithPrevious, type ChangeReport } from './changes';

export type { ChangeReport } from './changes';

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
  clusters: { k: number; silhouette: number; descriptions: ClusterDescription[] };
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

/** How each campaign's `rankBy` orders its list (users without the value last). */
export async function buildSegments(
  conn: DuckDBConnection,
  opts: {
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
  },
): Promise<SegmentsResult> {
  const def = opts.definition;
  mkdirSync(join(opts.outDir, 'exports'), { recursive: true });
  const purchase = columnSafe(def.label.event);
  const funnel = def.features.funnel;
  const featCols = new Set(
    (
      await conn.runAndReadAll(
        `SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(${quoteLiteral(opts.featuresPath)}))`,
      )
    )
      .getRows()
      .map((r) => String(r[0])),
  );
  const col = (name: string, fallback = '0') => (featCols.has(name) ? `f.${quoteIdent(name)}` : fallback);
  const recency = `CASE WHEN ${col(`n_${purchase}_total`)} > 0 THEN ${col(`days_since_last_${purchase}`, col('days_since_last_event'))} ELSE ${col('days_since_last_event')} END`;
  const stageName = funnel.length
    ? `CASE ${funnel.map((s, i) => `WHEN ${col('funnel_stage')} = ${i + 1} THEN ${quoteLiteral(s)}`).join(' ')} ELSE 'none' END`
    : `'none'`;
  const reasons = opts.reasonsPath && existsSync(opts.reasonsPath);
  const scoreCols = new Set(
    (
      await conn.runAndReadAll(
        `SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(${quoteLiteral(opts.scoresPath)}))`,
      )
    )
      .getRows()
      .map((r) => String(r[0])),
  );
  const churnRisk = scoreCols.has('churn_risk') ? 's.churn_risk' : 'CAST(NULL AS DOUBLE)';
  const clv = opts.clvPath && existsSync(opts.clvPath);

  // One row per scored user: scores, the inputs of the segment rules, and the segments themselves.
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE seg_base AS
     SELECT s.user_id, s.propensity, ${churnRisk} AS churn_risk, ${recency} AS recency_days, ${col(`n_${purchase}_total`)} AS frequency, ${col('revenue_total')} AS monetary,
            ${col('days_since_last_event')} AS last_event_age_days, ${stageName} AS funnel_stage, ${col('funnel_stage')} AS funnel_stage_index,
            ${reasons ? 'r.reason_1, r.reason_2, r.reason_3' : 'NULL AS reason_1, NULL AS reason_2, NULL AS reason_3'},
            ${clv ? 'v.clv, v.p_alive, v.expected_purchases' : 'CAST(NULL AS DOUBLE) AS clv, CAST(NULL AS DOUBLE) AS p_alive, CAST(NULL AS DOUBLE) AS expected_purchases'},
            ${[1, 2, 3].map((k) => `${reasonPhraseSql(def, featCols, reasons ? `r.reason_${k}` : 'CAST(NULL AS VARCHAR)')} AS why_${k}`).join(', ')}
     FROM read_parquet(${quoteLiteral(opts.scoresPath)}) s JOIN read_parquet(${quoteLiteral(opts.featuresPath)}) f USING (user_id)
     ${reasons ? `LEFT JOIN read_parquet(${quoteLiteral(opts.reasonsPath!)}) r USING (user_id)` : ''}
     ${clv ? `LEFT JOIN read_parquet(${quoteLiteral(opts.clvPath!)}) v USING (user_id)` : ''}`,
  );
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE seg_scored AS
     SELECT *,
       CAST(6 - ntile(5) OVER (PARTITION BY frequency > 0 ORDER BY recency_days, user_id) AS INTEGER) AS rfm_r,
       CASE WHEN frequency > 0 THEN CAST(ntile(5) OVER (PARTITION BY frequency > 0 ORDER BY frequency, monetary, user_id) AS INTEGER) ELSE 1 END AS rfm_f,
       CASE WHEN frequency > 0 THEN CAST(ntile(5) OVER (PARTITION BY frequency > 0 ORDER BY monetary, user_id) AS INTEGER) ELSE 1 END AS rfm_m,
       CAST(11 - ntile(10) OVER (ORDER BY propensity, user_id) AS INTEGER) AS propensity_decile,
       100.0 * percent_rank() OVER (ORDER BY propensity) AS propensity_percentile,
       CASE WHEN churn_risk IS NOT NULL
            THEN CAST(11 - ntile(10) OVER (PARTITION BY churn_risk IS NULL ORDER BY churn_risk, user_id) AS INTEGER) END AS churn_risk_decile
     FROM seg_base`,
  );

  // Behavioural clusters: k-means on standardised log features, on a worker thread (segments/clusters.ts).
  const clusterCols = CLUSTER_FEATURES.filter((c) => featCols.has(c));
  const clustersFile = join(opts.outDir, `clusters.tmp-${process.pid}-${Math.floor(Math.random() * 1e9)}.parquet`);
  let km: Clusters;
  try {
    km = await computeClustersInThread({
      scoresPath: opts.scoresPath,
      featuresPath: opts.featuresPath,
      columns: clusterCols,
      seed: opts.seed,
      given: def.segments.clusters,
      outFile: clustersFile,
    });
    await conn.run(
      `CREATE OR REPLACE TEMP TABLE seg_clusters AS SELECT user_id, cluster FROM read_parquet(${quoteLiteral(clustersFile)})`,
    );
  } finally {
    rmSync(clustersFile, { force: true });
  }
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE segments AS
     SELECT s.user_id, s.propensity, s.propensity_decile, s.propensity_percentile, s.churn_risk, s.churn_risk_decile, s.rfm_r, s.rfm_f, s.rfm_m,
            CAST(round((s.rfm_f + s.rfm_m) / 2.0 + 0.01) AS INTEGER) AS rfm_fm,
            s.recency_days, s.frequency, s.monetary, s.last_event_age_days, s.funnel_stage,
            coalesce(c.cluster, 1) AS cluster, s.reason_1, s.reason_2, s.reason_3, s.why_1, s.why_2, s.why_3, s.clv, s.p_alive, s.expected_purchases,
            $version AS model_version
     FROM seg_scored s LEFT JOIN seg_clusters c USING (user_id)`,
    { version: opts.modelVersion },
  );
  await conn.run(`ALTER TABLE segments ADD COLUMN rfm_segment VARCHAR`);
  await conn.run(`UPDATE segments SET rfm_segment = ${rfmSegmentSql('rfm_r', 'rfm_fm')}`);

  const segmentsPath = join(opts.outDir, 'segments.parquet');
  await copyAtomic(conn, `SELECT * FROM segments ORDER BY user_id`, segmentsPath, 'parquet', opts.crashBeforeRenameOf);

  const descriptions: ClusterDescription[] = km.k
    ? km.centroids
        .map((c, k) => ({
          cluster: k + 1,
          size: km.sizes[k],
          distinguishing: clusterCols
            .map((f, j) => ({ feature: f, z: c[j] }))
            .sort((a, b) => Math.abs(b.z) - Math.abs(a.z))
            .slice(0, 3),
        }))
        .map((d) => ({ ...d, inWords: clusterInWords(d.distinguishing) }))
    : [];

  // Campaign lists, then one list per RFM segment / cluster when export.segmentLists asks for them.
  const { salt, source: saltSource } = def.export.hashUserIds ? exportSalt(def) : { salt: '', source: 'not hashed' };
  const ctx: ListContext = {
    definition: def,
    cutoff: opts.cutoff,
    outDir: opts.outDir,
    featuresPath: opts.featuresPath,
    modelVersion: opts.modelVersion,
    outcomesObserved: opts.outcomesObserved,
    crashBeforeRenameOf: opts.crashBeforeRenameOf,
    idExpr: def.export.hashUserIds ? `sha256($salt || user_id)` : 'user_id',
    salt: def.export.hashUserIds ? salt : undefined,
    piiCols: def.sources.customers && def.export.allowPii.length ? def.export.allowPii : [],
  };
  // What rankBy "uplift" orders by (segments/export-list.ts); empty when no campaign ranks by uplift.
  const byUplift = def.campaigns.find((c) => c.rankBy === 'uplift');
  if (byUplift && !opts.upliftPath)
    throw new Error(`campaign "${byUplift.name}" ranks by uplift, but the run has no uplift scores (the uplift step)`);
  await conn.run(
    opts.upliftPath
      ? `CREATE OR REPLACE TEMP TABLE uplift_scores AS SELECT * FROM read_parquet(${quoteLiteral(opts.upliftPath)})`
      : `CREATE OR REPLACE TEMP TABLE uplift_scores (user_id VARCHAR, campaign VARCHAR, uplift DOUBLE)`,
  );
  const campaigns: CampaignExport[] = [];
  for (const c of [...def.campaigns, ...segmentListSpecs(def.export.segmentLists, descriptions)])
    campaigns.push(await writeList(conn, ctx, c));

  const segmentSizes = {
    rfm: await countsBy(conn, 'rfm_segment'),
    deciles: await countsBy(conn, 'propensity_decile'),
    funnel: await countsBy(conn, 'funnel_stage'),
    clusters: await countsBy(conn, 'cluster'),
  };
  for (const s of RFM_SEGMENTS) segmentSizes.rfm[s] ??= 0;
  const sample = await conn.runAndReadAll(
    `SELECT user_id AS "user", CAST(${percent('propensity')} AS VARCHAR) || '%' AS chance, propensity_decile AS "decile (1 = top)", rfm_segment AS "RFM segment", funnel_stage AS "funnel stage", cluster, why_1 AS "reason 1", why_2 AS "reason 2", why_3 AS "reason 3" FROM segments ORDER BY propensity DESC, user_id LIMIT 10`,
  );
  const sampleRows = sample
    .getRowObjects()
    .map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, jsonSafe(v)])));

  const changeReport = opts.previousRunDir ? await compareWithPrevious(conn, opts.previousRunDir, campaigns) : null;
  const manifestPath = join(opts.outDir, 'exports', 'manifest.json');
  writeJsonAtomic(manifestPath, {
    runId: opts.runId,
    pipeline: def.name,
    cutoff: opts.cutoff.toISOString(),
    modelVersion: opts.modelVersion,
    userIds: def.export.hashUserIds ? `sha256(salt || user_id), salt from ${saltSource}` : 'as in the source',
    segments: { file: 'segments.parquet', users: km.users, sha256: sha256File(segmentsPath) },
    conventions: { propensityDecile: DECILE_CONVENTION, churnRiskDecile: '1 = the 10 % of customers most at risk' },
    campaigns: campaigns.map((c) => ({
      name: c.name,
      kind: c.kind,
      description: c.meaning.description,
      action: c.action,
      rows: c.rows,
      expectedConversions: Number(c.expectedConversions.toFixed(4)),
      expectedConversionsMeaning: c.meaning.expectedConversions,
      realisedConversions: c.realisedConversions,
      // The held-out users: never delivered; `rows` above counts the delivered (treatment) users only.
      control: {
        share: c.control.share,
        salt: c.control.salt,
        rows: c.control.rows,
        realisedConversions: c.control.realisedConversions,
        file: c.control.share > 0 ? basename(c.control.file) : null,
        sha256: c.control.sha256,
        note: c.control.share > 0 ? 'held out, not delivered' : 'no control group: lift cannot be measured',
      },
      backtest: c.backtest,
      // How `measure` prices and times this send (lift/run.ts), fixed when the list was made.
      measurement: measurementTerms(def, c.name),
      files: { csv: `${c.name}.csv`, parquet: `${c.name}.parquet`, readme: `${c.name}.README.txt` },
      uploads: c.uploads.map((u) => ({
        format: u.format,
        file: basename(u.path),
        rows: u.rows,
        withoutIdentifier: u.withoutIdentifier,
        sha256: u.sha256,
      })),
      sha256: c.sha256,
    })),
  });
  for (const t of ['seg_base', 'seg_scored', 'seg_clusters', 'campaign_rows', 'campaign_ids', 'campaign_csv'])
    await conn.run(`DROP TABLE IF EXISTS ${t}`);
  await conn.run(`DROP TABLE IF EXISTS uplift_scores`);
  return {
    segmentsPath,
    segmentSizes,
    clusters: { k: km?.k ?? 1, silhouette: km?.silhouette ?? 0, descriptions },
    campaigns,
    manifestPath,
    changeReport,
    sampleRows,
  };
}

/** A campaign's measurement window and economics as the definition states them when its list is made. */
function measurementTerms(def: PipelineDefinition, name: string) {
  const spec = def.campaigns.find((c) => c.name === name);
  return spec ? { window: spec.measureWindow ?? def.label.horizon, economics: spec.economics ?? null } : undefined;
}
