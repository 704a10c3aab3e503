/**
 * k-means with k-means++ seeding (seeded, deterministic), Lloyd iterations, and the silhouette score on a
 * seeded sample to choose k. Hand-written: small, and the npm k-means packages cannot be seeded.
 */
import { join } from 'node:path';
import { cpuPool } from '../infra/threads';
import { mulberry32 } from './random';
import type { KMeansJob } from './kmeans-thread';

export interface KMeansResult {
  k: number;
  centroids: Float64Array[];
  labels: Uint16Array;
  inertia: number;
}

const dist2 = (rows: Float64Array[], i: number, c: Float64Array) => {
  let s = 0;
  for (let j = 0; j < c.length; j++) s += (rows[j][i] - c[j]) ** 2;
  return s;
};

/** `cols` is column-major: cols[j][i]. */
export function kmeans(cols: Float64Array[], k: number, seed: number, maxIter = 50): KMeansResult {
  const n = cols[0]?.length ?? 0;
  if (n < k) throw new Error(`k-means needs at least k=${k} rows (got ${n})`);
  const rng = mulberry32(seed);
  const centroids: Float64Array[] = [];
  const first = Math.floor(rng() * n);
  centroids.push(Float64Array.from(cols, (c) => c[first]));
  const d = new Float64Array(n).fill(Infinity);
  while (centroids.length < k) {
    let total = 0;
    const last = centroids[centroids.length - 1];
    for (let i = 0; i < n; i++) {
      d[i] = Math.min(d[i], dist2(cols, i, last));
      total += d[i];
    }
    let r = rng() * total;
    let pick = n - 1;
    for (let i = 0; i < n; i++) {
      r -= d[i];
      if (r <= 0) {
        pick = i;
        break;
      }
    }
    centroids.push(Float64Array.from(cols, (c) => c[pick]));
  }
  const labels = new Uint16Array(n);
  let inertia = 0;
  for (let it = 0; it < maxIter; it++) {
    let changed = 0;
    inertia = 0;
    for (let i = 0; i < n; i++) {
      let best = 0,
        bd = Infinity;
      for (let c = 0; c < k; c++) {
        const dd = dist2(cols, i, centroids[c]);
        if (dd < bd) {
          bd = dd;
          best = c;
        }
      }
      if (labels[i] !== best || it === 0) changed++;
      labels[i] = best;
      inertia += bd;
    }
    const sums = centroids.map((c) => new Float64Array(c.length));
    const counts = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      counts[labels[i]]++;
      for (let j = 0; j < cols.length; j++) sums[labels[i]][j] += cols[j][i];
    }
    for (let c = 0; c < k; c++)
      if (counts[c] > 0) for (let j = 0; j < cols.length; j++) centroids[c][j] = sums[c][j] / counts[c];
    if (changed === 0) break;
  }
  return { k, centroids, labels, inertia };
}

/** Mean silhouette over a seeded sample of at most `sample` rows (exact when n ≤ sample). */
export function silhouette(cols: Float64Array[], labels: Uint16Array, k: number, seed: number, sample = 1500): number {
  const n = labels.length;
  const rng = mulberry32(seed);
  const idx =
    n <= sample ? Array.from({ length: n }, (_, i) => i) : Array.from({ length: sample }, () => Math.floor(rng() * n));
  let total = 0;
  for (const i of idx) {
    const sum = new Float64Array(k);
    const cnt = new Float64Array(k);
    for (const j of idx) {
      if (j === i) continue;
      let s = 0;
      for (let f = 0; f < cols.length; f++) s += (cols[f][i] - cols[f][j]) ** 2;
      sum[labels[j]] += Math.sqrt(s);
      cnt[labels[j]]++;
    }
    const a = cnt[labels[i]] ? sum[labels[i]] / cnt[labels[i]] : 0;
    let b = Infinity;
    for (let c = 0; c < k; c++) if (c !== labels[i] && cnt[c]) b = Math.min(b, sum[c] / cnt[c]);
    total += b === Infinity ? 0 : (b - a) / Math.max(a, b) || 0;
  }
  return total / idx.length;
}

const candidatesOf = (given?: number) => (given ? [given] : [2, 3, 4, 5, 6, 7, 8]);

/** k from `given`, else the k in 2..8 with the best silhouette. */
export function chooseK(cols: Float64Array[], seed: number, given?: number): KMeansResult & { silhouette: number } {
  const candidates = candidatesOf(given);
  let best: (KMeansResult & { silhouette: number }) | null = null;
  for (const k of candidates) {
    if (k > (cols[0]?.length ?? 0)) break;
    const r = kmeans(cols, k, seed);
    const s = silhouette(cols, r.labels, k, seed);
    if (!best || s > best.silhouette) best = { ...r, silhouette: s };
  }
  if (!best) throw new Error('too few users to cluster');
  return best;
}

/**
 * chooseK on worker threads (the process's CPU pool), one k per job: at 4.3 M users the seven fits took 57 s, all
 * of it blocking the event loop when run here. The columns are copied once into shared memory for every job; each
 * fit depends only on (columns, k, seed), and the best is picked in k order as in chooseK, so the result is the
 * same bit for bit.
 */
export async function chooseKInThread(
  cols: Float64Array[],
  seed: number,
  given?: number,
  signal?: AbortSignal,
): Promise<KMeansResult & { silhouette: number }> {
  const n = cols[0]?.length ?? 0;
  const candidates = candidatesOf(given).filter((k) => k <= n);
  if (candidates.length === 0) throw new Error('too few users to cluster');
  const shared = cols.map((c) => {
    const b = new SharedArrayBuffer(c.byteLength);
    new Float64Array(b).set(c);
    return b;
  });
  const file = join(__dirname, 'kmeans-thread.js');
  const fits = await Promise.all(
    candidates.map((k) =>
      cpuPool().run<KMeansResult & { silhouette: number }, KMeansJob>({
        file,
        input: { cols: shared, k, seed },
        signal,
      }),
    ),
  );
  let best = fits[0];
  for (const r of fits.slice(1)) if (r.silhouette > best.silhouette) best = r;
  return best;
}
