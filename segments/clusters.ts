/**
 * Behavioural clusters: k-means on the standardised log features of every scored user, computed on a worker
 * thread from the Parquet files themselves, and written as (user_id, cluster) to a Parquet file the segments step
 * loads with SQL. At 4.3 M users the read, the standardisation, the seven k-means fits and the appending of the
 * labels all blocked the worker's event loop (57 s for the fits alone); now it only waits.
 */
import { join } from 'node:path';
import { runInThread } from '../infra/threads';
import { quoteIdent, quoteLiteral, withDuckDB } from '../warehouse/db';
import { writeColumnsToParquet } from '../warehouse/parquet';
import { chooseKInThread } from '../ml/kmeans';

export interface ClusterJob {
  scoresPath: string;
  featuresPath: string;
  /** The feature columns clustered on (present in the features file). */
  columns: string[];
  seed: number;
  /** k given by the definition, else chosen in 2..8 by silhouette. */
  given?: number;
  /** Where the (user_id, cluster) rows go; cluster is 1-based. */
  outFile: string;
}

export interface Clusters {
  users: number;
  /** Null when there were too few users or no columns (everyone is then in cluster 1). */
  k: number | null;
  silhouette: number;
  centroids: Float64Array[];
  sizes: number[];
}

/** The users the segments are built for (scores ⋈ features), in user order, as the k-means input. */
export async function computeClusters(job: ClusterJob): Promise<Clusters> {
  return withDuckDB(':memory:', async (conn) => {
    const ordered = await conn.runAndReadAll(
      `SELECT user_id${job.columns.map((c) => `, ln(1 + greatest(coalesce(f.${quoteIdent(c)}, 0), 0))`).join('')}
       FROM read_parquet(${quoteLiteral(job.scoresPath)}) s JOIN read_parquet(${quoteLiteral(job.featuresPath)}) f USING (user_id)
       ORDER BY user_id`,
    );
    const raw = ordered.getColumns();
    const ids = raw[0].map(String);
    const z = raw.slice(1).map((c) => {
      const v = Float64Array.from(c, Number);
      const m = v.reduce((a, b) => a + b, 0) / (v.length || 1);
      const sd = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length || 1)) || 1;
      return v.map((x) => (x - m) / sd);
    });
    const km = ids.length >= 10 && z.length > 0 ? await chooseKInThread(z, job.seed, job.given) : null;
    const cluster = Int32Array.from(ids, (_, i) => (km ? km.labels[i] + 1 : 1));
    await writeColumnsToParquet(conn, job.outFile, [
      { name: 'user_id', type: 'VARCHAR', values: ids },
      { name: 'cluster', type: 'INTEGER', values: cluster },
    ]);
    const sizes = km ? km.centroids.map((_, k) => km.labels.filter((l) => l === k).length) : [];
    return {
      users: ids.length,
      k: km?.k ?? null,
      silhouette: km?.silhouette ?? 0,
      centroids: km?.centroids ?? [],
      sizes,
    };
  });
}

/** computeClusters on a worker thread (segments/clusters-thread.ts). */
export function computeClustersInThread(job: ClusterJob, signal?: AbortSignal): Promise<Clusters> {
  return runInThread<Clusters, ClusterJob>({ file: join(__dirname, 'clusters-thread.js'), input: job, signal });
}
