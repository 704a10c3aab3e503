/**
 * The forest at prediction time: flat arrays per tree and the raw-value thresholds, nothing from training; the
 * packed layout and threads that predict and explain large batches fast (inner loops in kernels.ts).
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FeatureMatrix } from '../classifier';
import {
  LEAFWISE_SUMS,
  MISSING_RIGHT,
  newScratch,
  REASONS,
  runRows,
  SUMS,
  type BatchOutput,
  type PackedForest,
} from './kernels';
import { batchViews, DONE, STOLEN, WRITING, type SharedBatch } from './shared-batch';

import type { PredictTree } from './serialize';

const packedCache = new WeakMap<PredictTree[], PackedForest>();

/** The packed forest of `trees` (see PackedForest), built once per model and kept with it. */
export function packForest(trees: PredictTree[]): PackedForest {
  const cached = packedCache.get(trees);
  if (cached) return cached;
  const total = trees.reduce((a, t) => a + t.feature.length, 0);
  const buffer = new SharedArrayBuffer(total * 16);
  const nodes = new Int32Array(buffer);
  const values = new Float32Array(buffer);
  const nodeValues = new Float32Array(new SharedArrayBuffer(total * 4));
  const roots = new Int32Array(new SharedArrayBuffer(trees.length * 4));
  const depths = new Int32Array(new SharedArrayBuffer(trees.length * 4));
  let offset = 0;
  trees.forEach((t, k) => {
    roots[k] = offset;
    nodeValues.set(t.value, offset);
    const depth = new Int32Array(t.feature.length);
    for (let i = 0; i < t.feature.length; i++) {
      const o = (offset + i) * 4;
      if (t.feature[i] < 0) {
        nodes[o] = 0;
        values[o + 1] = t.value[i];
        nodes[o + 2] = offset + i;
        nodes[o + 3] = offset + i;
        depths[k] = Math.max(depths[k], depth[i]);
      } else {
        depth[t.left[i]] = depth[i] + 1;
        depth[t.right[i]] = depth[i] + 1;
        nodes[o] = t.feature[i] | (t.missingLeft[i] === 1 ? 0 : MISSING_RIGHT);
        values[o + 1] = t.threshold[i];
        nodes[o + 2] = offset + t.left[i];
        nodes[o + 3] = offset + t.right[i];
      }
    }
    offset += t.feature.length;
  });
  const packed = { nodes, values, nodeValues, roots, depths };
  packedCache.set(trees, packed);
  return packed;
}

// Threads: the protocol of a shared batch is in shared-batch.ts.
/** At least this long (and four times the main thread's slowest block) before taking a block back. */
const STEAL_AFTER_MS = 500;

let helpers: Worker[] | undefined;
/** Rows × trees below which sharing a batch between threads does not pay off (a block costs ~1 ms at most). */
const PARALLEL_MIN_WORK = 400_000;
/** The same for the boosted models' early-exit walk (leafwiseSums), measured there. */
const BOOSTED_MIN_WORK = 50_000;
/** Blocks per shared chunk: bounds the shared copy of the rows (32 × 8192 rows × 30 features ≈ 31 MB). */
const CHUNK_BLOCKS = 32;

/** Starts the helper threads once, without waiting for them (they are up by the time a large batch comes). */
function startHelpers(): Worker[] {
  if (helpers) return helpers;
  helpers = [];
  const threads = Number(process.env.FUNNELCAST_PREDICT_THREADS ?? availableParallelism());
  const file = join(__dirname, 'predict-worker.js');
  if (!(threads >= 2) || !existsSync(file)) return helpers;
  for (let k = 0; k < Math.min(threads, 8) - 1; k++) {
    const w = new Worker(file);
    w.unref();
    const drop = () => (helpers = helpers?.filter((h) => h !== w));
    w.on('error', drop);
    w.on('exit', drop);
    helpers.push(w);
  }
  return helpers;
}

/** For tests: replaces the helper threads (undefined: start the usual ones again when next needed). */
export function setPredictionHelpers(workers: Worker[] | undefined): void {
  helpers = workers;
}

/**
 * Rows per block: up to 8192 (the row-major copy of a block stays in cache while every tree goes through it;
 * smaller blocks re-read every tree more often), at least 8 blocks per batch when there is more than one thread.
 * Alone, no more than the batch has: the block's buffers are allocated (and zeroed) per batch, and 8192 rows of
 * them for the ~20 rows of an online batch were a seventh of the scoring service's CPU (measured, serve bench).
 */
function blockRows(n: number, threads: number, max = 8192): number {
  if (threads < 2) return Math.max(1, Math.min(max, n));
  let b = 1024;
  while (b < max && b * 8 < n) b *= 2;
  return b;
}

/**
 * Explanations take smaller blocks: each row adds into its own row of contributions (a double per feature), and
 * at 8192 rows × 35 features those were 2.3 MB, past the core's cache; at 2048 rows, 262,144 real rows of the 10 M
 * run explained in 0.89 s instead of 1.09 s on one thread (issue 17).
 */
const REASON_BLOCK = 2048;

/**
 * Computes `kind` for every row of `x` into `out` (sums added, so zeroed), on this thread alone or shared with
 * the helpers for a large batch.
 */
function runBatch(
  kind: number,
  p: PackedForest,
  x: FeatureMatrix,
  topK: number,
  out: BatchOutput,
  minWork = PARALLEL_MIN_WORK,
): void {
  const n = x.nRows;
  const f = x.columns.length;
  const work = n * p.roots.length * (kind === REASONS ? 2 : 1);
  const hs = work >= minWork ? startHelpers() : [];
  const block = blockRows(n, hs.length + 1, kind === REASONS ? REASON_BLOCK : 8192);
  const scratch = newScratch(kind, block, f);
  if (hs.length === 0 || n <= block) {
    for (let s = 0; s < n; s += block) runRows(kind, p, x.columns, s, Math.min(n, s + block), topK, scratch, out, s);
    return;
  }
  const chunk = block * CHUNK_BLOCKS;
  const m0 = Math.min(n, chunk);
  const cols = new Float32Array(new SharedArrayBuffer(m0 * f * 4));
  for (let c0 = 0; c0 < n; c0 += chunk) {
    const m = Math.min(chunk, n - c0);
    for (let j = 0; j < f; j++) cols.set(x.columns[j].subarray(c0, c0 + m), j * m);
    const batch: SharedBatch = {
      kind,
      nodes: p.nodes.buffer as SharedArrayBuffer,
      nodeValues: p.nodeValues.buffer as SharedArrayBuffer,
      roots: p.roots.buffer as SharedArrayBuffer,
      depths: p.depths.buffer as SharedArrayBuffer,
      cols: cols.buffer as SharedArrayBuffer,
      f,
      m,
      block,
      topK,
      sums: new SharedArrayBuffer(m * 8),
      reasonIdx: new SharedArrayBuffer(kind === REASONS ? m * topK * 4 : 0),
      reasonValues: new SharedArrayBuffer(kind === REASONS ? m * topK * 8 : 0),
      // A fresh control block per chunk: a helper still busy with an old chunk can never publish into this one.
      control: new SharedArrayBuffer(4 * (1 + Math.ceil(m / block))),
    };
    for (const h of hs) h.postMessage(batch);
    const v = batchViews(batch);
    const mine = new Uint8Array(v.nBlocks);
    let slowest = 0; // ms, the main thread's slowest block
    const compute = (b: number) => {
      const t = performance.now();
      runRows(kind, p, v.columns, b * block, Math.min(m, (b + 1) * block), topK, scratch, v.out, b * block);
      slowest = Math.max(slowest, performance.now() - t);
    };
    for (let b = Atomics.add(v.control, 0, 1); b < v.nBlocks; b = Atomics.add(v.control, 0, 1)) {
      mine[b] = 1;
      compute(b);
    }
    // A helper's block may have started just before the main thread's last one: give it a few block times.
    const patience = Math.max(STEAL_AFTER_MS, 4 * slowest);
    for (let b = 0; b < v.nBlocks; b++) {
      if (mine[b]) continue;
      let writingWaits = 0;
      for (;;) {
        const s = Atomics.load(v.control, 1 + b);
        if (s === DONE) break;
        if (s === WRITING) {
          // A helper copying its finished block: microseconds, unless it died in the middle.
          if (Atomics.wait(v.control, 1 + b, WRITING, 1000) === 'timed-out' && ++writingWaits >= 30)
            throw new Error('a forest prediction thread stopped while writing its results');
          continue;
        }
        if (Atomics.wait(v.control, 1 + b, s, patience) !== 'timed-out') continue;
        if (Atomics.compareExchange(v.control, 1 + b, s, STOLEN) === s) {
          compute(b);
          break;
        }
      }
    }
    out.sums.set(v.out.sums, c0);
    if (kind === REASONS) {
      out.reasonIdx.set(v.out.reasonIdx, c0 * topK);
      out.reasonValues.set(v.out.reasonValues, c0 * topK);
    }
  }
}

const noOutput = (): BatchOutput => ({
  sums: new Float64Array(0),
  reasonIdx: new Int32Array(0),
  reasonValues: new Float64Array(0),
});

/**
 * Builds the packed forest when a model is trained or loaded (not on its first prediction), starts the helper
 * threads, and warms the prediction and explanation kernels on every thread with a few rows of zeros (a
 * model-load cost of milliseconds), so the first real batch runs optimised code.
 */
export function preparePrediction(trees: PredictTree[]): void {
  const p = packForest(trees);
  if (trees.length < 2) return;
  let f = 1;
  for (const t of trees) for (const j of t.feature) f = Math.max(f, j + 1);
  const m = 515; // not a multiple of 8: the loops for the last rows get their type feedback too
  const columns = Array.from({ length: f }, () => new Float32Array(m));
  for (let i = 0; i < 2; i++) {
    const out = { ...noOutput(), sums: new Float64Array(m) };
    runRows(SUMS, p, columns, 0, m, 3, newScratch(SUMS, m, f), out, 0);
    const why = { sums: new Float64Array(m), reasonIdx: new Int32Array(m * 3), reasonValues: new Float64Array(m * 3) };
    runRows(REASONS, p, columns, 0, m, 3, newScratch(REASONS, m, f), why, 0);
  }
  warmHelpers([SUMS, REASONS], p, f, m);
}

/**
 * Starts the helper threads and gives them `m` zero rows of `kinds` as batches nobody waits for (they take every
 * block themselves), so their kernels have type feedback before the first real batch: a cold helper that took a
 * block of a batch made the main thread wait for it (issue 23: CDNOW's held-out rows, best of 3 calls).
 */
export function warmHelpers(kinds: number[], p: PackedForest, f: number, m: number): void {
  for (const kind of kinds)
    for (const h of startHelpers())
      h.postMessage({
        kind,
        nodes: p.nodes.buffer as SharedArrayBuffer,
        nodeValues: p.nodeValues.buffer as SharedArrayBuffer,
        roots: p.roots.buffer as SharedArrayBuffer,
        depths: p.depths.buffer as SharedArrayBuffer,
        cols: new SharedArrayBuffer(m * f * 4),
        f,
        m,
        block: 256,
        topK: 3,
        sums: new SharedArrayBuffer(m * 8),
        reasonIdx: new SharedArrayBuffer(kind === REASONS ? m * 3 * 4 : 0),
        reasonValues: new SharedArrayBuffer(kind === REASONS ? m * 3 * 8 : 0),
        control: new SharedArrayBuffer(4 * (1 + Math.ceil(m / 256))),
      } satisfies SharedBatch);
}

/** Mean leaf value over trees for every row of `x` (columns in the model's feature order). */
export function predictTrees(trees: PredictTree[], x: FeatureMatrix): Float64Array {
  const out = { ...noOutput(), sums: new Float64Array(x.nRows) };
  runBatch(SUMS, packForest(trees), x, 0, out);
  const sums = out.sums;
  const k = trees.length || 1;
  for (let i = 0; i < sums.length; i++) sums[i] /= k;
  return sums;
}

/**
 * Each row's sum of leaf values over a boosted model's trees (packed by ml/boosted/predict.ts in shared memory,
 * its early-exit kernel): large batches are shared with the helper threads as the forest's are, so prediction
 * uses the cores LightGBM's does; each row is still summed whole by one thread, trees in order (same bits).
 */
export function leafwiseSums(packed: LeafwisePacked, x: FeatureMatrix) {
  const p = asPackedForest(packed);
  const out = { ...noOutput(), sums: new Float64Array(x.nRows) };
  // Shared from 50,000 rows × trees (and more rows than one block): measured on a quiet machine, 2,000 × 28 took
  // 0.71 ms shared vs 1.20 alone, 5,893 × 28 (CDNOW's held-out rows) 2.14 vs 3.91, 12,500 × 61 7.4 vs 13.9; 840 × 19
  // and 500 × 28 fit one block and stay alone. (An earlier threshold of 3.2 M came from a run on a loaded machine,
  // where the helper thread waited for a core.)
  runBatch(LEAFWISE_SUMS, p, x, 0, out, BOOSTED_MIN_WORK);
  return out.sums;
}

type LeafwisePacked = { nodes: Int32Array; values: Float32Array; roots: Int32Array };

const asPackedForest = (packed: LeafwisePacked): PackedForest => ({
  ...packed,
  nodeValues: new Float32Array(new SharedArrayBuffer(0)),
  depths: new Int32Array(new SharedArrayBuffer(0)),
});

/** The helper threads' warm-up for a boosted model's walk (see warmHelpers): `m` zero rows of `f` features. */
export function warmLeafwiseHelpers(packed: LeafwisePacked, f: number, m: number): void {
  warmHelpers([LEAFWISE_SUMS], asPackedForest(packed), f, m);
}

/** What one pass of the explanation kernel gives for every row (see treeReasons). */
export interface TreeReasons {
  /** Mean leaf value over the trees: the same bits as predictTrees. */
  means: Float64Array;
  /** Row i's reasons at [i * topK, (i + 1) * topK): column indices, −1 past the last. */
  reasonIdx: Int32Array;
  /** Their contributions (mean over the trees). */
  reasonValues: Float64Array;
}

/**
 * Per-row feature contributions by path (Saabas): each split credits its feature with the change in the node's
 * positive share along the row's path, averaged over trees; the topK features that raised the score most, and
 * each row's mean leaf value from the same walk (scoring needs both: one pass instead of two, issue 17).
 */
export function treeReasons(trees: PredictTree[], x: FeatureMatrix, topK: number): TreeReasons {
  const n = x.nRows;
  const k = Math.max(0, Math.floor(topK));
  const out = { sums: new Float64Array(n), reasonIdx: new Int32Array(n * k), reasonValues: new Float64Array(n * k) };
  // With no reason asked for, the walk is still needed for the means: topReasons simply chooses none.
  if (trees.length > 0) runBatch(REASONS, packForest(trees), x, k, out);
  else out.reasonIdx.fill(-1);
  const nTrees = trees.length || 1;
  for (let i = 0; i < n; i++) out.sums[i] /= nTrees;
  return { means: out.sums, reasonIdx: out.reasonIdx, reasonValues: out.reasonValues };
}

/** treeReasons' reasons as feature names and values per row. */
export function explainTrees(
  trees: PredictTree[],
  x: FeatureMatrix,
  topK: number,
): { names: string[][]; values: Float64Array[] } {
  const n = x.nRows;
  const k = Math.max(0, Math.floor(topK));
  const out = treeReasons(trees, x, k);
  const names: string[][] = new Array(n);
  const values: Float64Array[] = new Array(n);
  for (let i = 0; i < n; i++) {
    let c = 0;
    while (c < k && out.reasonIdx[i * k + c] >= 0) c++;
    const nm: string[] = new Array(c);
    for (let t = 0; t < c; t++) nm[t] = x.names[out.reasonIdx[i * k + t]];
    names[i] = nm;
    values[i] = out.reasonValues.slice(i * k, i * k + c);
  }
  return { names, values };
}
