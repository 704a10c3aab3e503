/** Worker-thread job for chooseKInThread: one k-means fit and its silhouette, on columns in shared memory. */
import { serveThread } from '../infra/threads';
import { kmeans, silhouette } from './kmeans';

export interface KMeansJob {
  cols: SharedArrayBuffer[];
  k: number;
  seed: number;
}

serveThread((job: KMeansJob) => {
  const cols = job.cols.map((b) => new Float64Array(b));
  const r = kmeans(cols, job.k, job.seed);
  return { ...r, silhouette: silhouette(cols, r.labels, job.k, job.seed) };
});
