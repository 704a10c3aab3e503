/**
 * The training side of the forest that is not the tree itself: growing trees on worker threads over the shared
 * binned matrix, the checkpoint folder a crashed fit resumes from, and the out-of-bag votes the calibration is
 * fitted on.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { writeFileAtomic } from '../../infra/atomic';
import type { FitOptions } from '../classifier';
import { mulberry32 } from '../random';
import type { Bins } from './binning';
import { deserializeTree, serializeTree, type SerializedTree } from './serialize';
import {
  compactRows,
  drawCounts,
  leafOfBinned,
  type BuildJob,
  type TreeArrays,
  type TreeData,
  type TreeParams,
} from './tree';

/** What grows the trees: the shared codes, labels, weights (0 outside the training rows) and the row set. */
export interface GrowInput {
  bins: Bins;
  y: Uint8Array;
  weight: Float32Array;
  rowSet: Uint32Array | null;
  params: TreeParams;
}

export type OnTree = (t: number, tree: TreeArrays, importance: Float64Array, threadId: number) => void;

/**
 * Grows `jobs` on `threads` worker threads. The codes, weights and row set are SharedArrayBuffers read by every
 * worker without a copy; trees come back one message each.
 */
export function growInWorkers(
  g: GrowInput,
  jobs: BuildJob[],
  threads: number,
  options: FitOptions,
  onTree: OnTree,
): Promise<void> {
  const n = g.y.length;
  const ySab = new SharedArrayBuffer(n);
  new Uint8Array(ySab).set(g.y);
  let rowSet: SharedArrayBuffer | null = null;
  if (g.rowSet) {
    rowSet = new SharedArrayBuffer(g.rowSet.byteLength);
    new Uint32Array(rowSet).set(g.rowSet);
  }
  const workerFile = join(__dirname, 'tree-worker.js');
  const workers: Worker[] = [];
  return new Promise<void>((resolve, reject) => {
    let finished = 0;
    let failed = false;
    const stopAll = (e: Error) => {
      if (failed) return;
      failed = true;
      options.signal?.removeEventListener('abort', onAbort);
      for (const w of workers) void w.terminate();
      reject(e);
    };
    const onAbort = () => stopAll(new Error('training cancelled'));
    // A signal that fired before this point dispatches no 'abort' event any more: start no worker at all.
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    for (let k = 0; k < threads; k++) {
      // Round-robin assignment: which worker grows a tree never changes the tree (its seed does).
      const mine = jobs.filter((_, t) => t % threads === k);
      const w = new Worker(workerFile, {
        workerData: {
          nRows: n,
          nFeatures: g.bins.codes.length,
          codes: g.bins.shared.buffer,
          y: ySab,
          weight: g.weight.buffer,
          rowSet,
          edges: g.bins.edges,
          params: g.params,
          jobs: mine,
        },
      });
      workers.push(w);
      w.on('message', (m: { type: string; index: number; tree: TreeArrays; importance: Float64Array }) => {
        // Trees still queued from a terminated worker are dropped: nothing is saved after a cancellation.
        if (failed) return;
        if (m.type === 'tree') onTree(m.index, m.tree, m.importance, w.threadId);
        else if (++finished === threads) {
          options.signal?.removeEventListener('abort', onAbort);
          for (const ww of workers) void ww.terminate();
          resolve();
        }
      });
      w.on('error', (e) => stopAll(e));
    }
  });
}

export function loadCheckpoint(dir: string, nTrees: number): Map<number, { tree: TreeArrays; importance: number[] }> {
  const out = new Map<number, { tree: TreeArrays; importance: number[] }>();
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    return out;
  }
  for (const f of readdirSync(dir)) {
    const m = /^tree-(\d+)\.json$/.exec(f);
    if (!m || Number(m[1]) >= nTrees) continue;
    const c = JSON.parse(readFileSync(join(dir, f), 'utf8')) as {
      tree: SerializedTree & { bin: string };
      importance: number[];
    };
    const bin = Buffer.from(c.tree.bin, 'base64');
    out.set(Number(m[1]), {
      tree: { ...deserializeTree(c.tree), bin: new Uint8Array(bin.buffer, bin.byteOffset, bin.length) } as TreeArrays,
      importance: c.importance,
    });
  }
  return out;
}

export function saveCheckpointTree(
  dir: string,
  t: number,
  tree: TreeArrays,
  importance: ArrayLike<number>,
  options: FitOptions,
): void {
  writeFileAtomic(
    join(dir, `tree-${String(t).padStart(5, '0')}.json`),
    JSON.stringify({
      tree: { ...serializeTree(tree), bin: Buffer.from(tree.bin).toString('base64') },
      importance: Array.from(importance),
    }),
    { signal: options.signal, tag: options.writerTag },
  );
}

/**
 * Out-of-bag rows evaluated for the calibration and the OOB score: every training row up to this many, else an
 * evenly spread subset (three calibration parameters need far fewer; with per-tree subsampling nearly every row
 * is out of bag for nearly every tree, and walking millions of rows through every tree, then fitting the
 * calibration on all of them, would block the thread for seconds).
 */
export const OOB_ROWS_MAX = 100_000;

export function oobRowsOf(rowSet: Uint32Array | null, n: number): Uint32Array {
  const m = rowSet ? rowSet.length : n;
  const step = m > OOB_ROWS_MAX ? m / OOB_ROWS_MAX : 1;
  const out = new Uint32Array(Math.min(m, OOB_ROWS_MAX));
  for (let k = 0; k < out.length; k++) {
    const r = Math.floor(k * step);
    out[k] = rowSet ? rowSet[r] : r;
  }
  return out;
}

/**
 * Out-of-bag vote means of `rows` (NaN for a row every tree drew), replaying each tree's draw from its seed, and
 * the accuracy at threshold 0.5. Yields between trees so heartbeats get through.
 */
export async function outOfBag(data: TreeData, jobs: BuildJob[], trees: TreeArrays[], rows: Uint32Array) {
  const sum = new Float64Array(rows.length);
  const cnt = new Uint32Array(rows.length);
  // The rows' codes copied once into compact columns: walking 100k rows spread over millions through every tree
  // missed the cache at each step.
  const local = compactRows(data, rows).codes;
  for (let t = 0; t < trees.length; t++) {
    const counts = drawCounts(data, jobs[t], mulberry32(jobs[t].seed));
    const tree = trees[t];
    for (let k = 0; k < rows.length; k++) {
      const i = rows[k];
      if (counts[i] !== 0) continue;
      sum[k] += tree.value[leafOfBinned(tree, local, k)];
      cnt[k]++;
    }
    if (t % 5 === 4) await nextTurn();
  }
  let correct = 0,
    counted = 0;
  const proba = new Float64Array(rows.length).fill(NaN);
  for (let k = 0; k < rows.length; k++) {
    if (cnt[k] === 0) continue;
    proba[k] = sum[k] / cnt[k];
    counted++;
    if ((proba[k] >= 0.5 ? 1 : 0) === data.y[rows[k]]) correct++;
  }
  return { proba, score: counted ? correct / counted : null };
}
