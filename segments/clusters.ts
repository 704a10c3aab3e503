/**
 * Behavioural clusters: k-means on the standardised log features of the scored users. k is chosen and the
 * centroids are fitted on a seeded sample of at most CLUSTER_SAMPLE users (on worker threads, ml/kmeans.ts); every
 * user is then assigned to the nearest centroid in SQL, inside the statement that builds the segments table.
 * Fitting on everyone cost more CPU than training the model (seven k-means fits over 4.3 M users: 57 s) and held
 * every user's id and features as JS values in memory; a 20,000-user sample gives the same centroids to a few
 * hundredths of a standard deviation, and the assignment streams through DuckDB.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { quoteIdent } from '../warehouse/db';
import { chooseKInThread } from '../ml/kmeans';

/** Users the k-means is fitted on, at most (all of them below this). */
export const CLUSTER_SAMPLE = 20_000;

export interface ClusterModel {
  /** Users the centroids were fitted on (a seeded sample when there are more than `sample`). */
  fittedOn: number;
  /** Null when there were too few users or no columns (everyone is then in cluster 1). */
  k: number | null;
  silhouette: number;
  /** Centroids in standardised units (z), one value per column. */
  centroids: Float64Array[];
  columns: string[];
  /** Mean and standard deviation of each column's log value over the sample (the standardisation). */
  means: number[];
  sds: number[];
}

/** The log feature a column is clustered on: ln(1 + max(x, 0)), missing as 0. */
const logOf = (alias: string, c: string) => `ln(1 + greatest(coalesce(${alias}.${quoteIdent(c)}, 0), 0))`;

/** An exact DOUBLE literal (a JS number's shortest repr parses back to the same double). */
const double = (x: number) => `CAST('${String(x)}' AS DOUBLE)`;

/**
 * Fits the clusters on a sample of `relation` (a FROM clause whose alias `alias` has user_id and the columns): the
 * standardisation, then k (given, or 2..8 by silhouette) and the centroids.
 */
export async function fitClusters(
  conn: DuckDBConnection,
  job: {
    relation: string;
    alias: string;
    columns: string[];
    seed: number;
    given?: number;
    sample?: number;
    signal?: AbortSignal;
  },
): Promise<ClusterModel> {
  const { relation, alias, columns } = job;
  const none: ClusterModel = { fittedOn: 0, k: null, silhouette: 0, centroids: [], columns, means: [], sds: [] };
  if (columns.length === 0) return none;
  // The sample: the users with the smallest seeded hash (every user when there are fewer), in user order so the
  // fit depends only on who is in it, and standardised by its own mean and deviation (computed here, in a fixed
  // order: DuckDB's parallel sums differ in the last bits from run to run, and a run must be reproducible).
  const rows = await conn.runAndReadAll(
    `SELECT * EXCLUDE (user_id) FROM (
       SELECT ${alias}.user_id${columns.map((c, j) => `, ${logOf(alias, c)} AS __l${j}`).join('')} FROM ${relation}
       ORDER BY hash(${alias}.user_id, ${Math.trunc(job.seed)}), ${alias}.user_id LIMIT ${Math.max(1, job.sample ?? CLUSTER_SAMPLE)}
     ) ORDER BY user_id`,
  );
  const cols = rows.getColumns().map((col) => Float64Array.from(col, Number));
  const n = cols[0].length;
  if (n < 10) return none;
  const means = cols.map((v) => v.reduce((a, b) => a + b, 0) / n);
  const sds = cols.map((v, j) => Math.sqrt(v.reduce((a, b) => a + (b - means[j]) ** 2, 0) / n) || 1);
  const z = cols.map((v, j) => v.map((x) => (x - means[j]) / sds[j]));
  const km = await chooseKInThread(z, job.seed, job.given, job.signal);
  return { fittedOn: n, k: km.k, silhouette: km.silhouette, centroids: km.centroids, columns, means, sds };
}

/**
 * The standardised log features of a row of `alias` as SQL columns `__z0…` (none without clusters): the inputs of
 * clusterDistancesSql, computed once per row.
 */
export function clusterInputsSql(m: ClusterModel, alias: string): string[] {
  if (!m.k) return [];
  return m.columns.map((c, j) => `(${logOf(alias, c)} - ${double(m.means[j])}) / ${double(m.sds[j])} AS __z${j}`);
}

/** The squared distance to each centroid as one LIST column `__cd`, over the `__z…` columns. */
export function clusterDistancesSql(m: ClusterModel): string {
  if (!m.k) return 'CAST(NULL AS DOUBLE[]) AS __cd';
  const dist = m.centroids.map((cen) => Array.from(cen, (x, j) => `power(__z${j} - ${double(x)}, 2)`).join(' + '));
  return `[${dist.join(', ')}] AS __cd`;
}

/** The 1-based cluster over `__cd`: the nearest centroid, ties to the lower cluster as k-means labels them. */
export function clusterSql(m: ClusterModel): string {
  return m.k ? 'CAST(list_position(__cd, list_min(__cd)) AS INTEGER)' : '1';
}
