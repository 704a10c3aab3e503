/**
 * The forest at prediction time: flat arrays per tree and the raw-value thresholds, nothing from training.
 * `loadForestPredictor` reads the serialized payload, so scoring never loads the training code path.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FeatureMatrix } from '../classifier';
import type { TreeArrays } from './tree';

export const FOREST_FORMAT_VERSION = 1;

export type PredictTree = Omit<TreeArrays, 'bin'> & { bin?: Uint8Array };

export interface SerializedTree {
  feature: string;
  threshold: string;
  missingLeft: string;
  left: string;
  right: string;
  value: string;
}

const b64 = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
function fromB64<T>(s: string, ctor: { new (b: ArrayBuffer): T }): T {
  const buf = Buffer.from(s, 'base64');
  const copy = new ArrayBuffer(buf.length);
  new Uint8Array(copy).set(buf);
  return new ctor(copy);
}

export function serializeTree(t: PredictTree): SerializedTree {
  return {
    feature: b64(t.feature),
    threshold: b64(t.threshold),
    missingLeft: b64(t.missingLeft),
    left: b64(t.left),
    right: b64(t.right),
    value: b64(t.value),
  };
}

export function deserializeTree(s: SerializedTree): PredictTree {
  return {
    feature: fromB64(s.feature, Int32Array),
    threshold: fromB64(s.threshold, Float32Array),
    missingLeft: fromB64(s.missingLeft, Uint8Array),
    left: fromB64(s.left, Int32Array),
    right: fromB64(s.right, Int32Array),
    value: fromB64(s.value, Float32Array),
  };
}

/**
 * The whole forest as one array of 16-byte node records, so a step down a tree touches one cache line instead of
 * one per field array: [feature | missing-goes-right flag (bit 30); threshold, or the leaf's value (float32 bits);
 * left child; right child], child indices global across trees. A leaf points to itself, so every row can take the
 * same number of steps (the tree's depth) without a branch. Built once per model, in shared memory so a
 * prediction worker thread reads it without a copy.
 */
export interface PackedForest {
  nodes: Int32Array;
  values: Float32Array;
  roots: Int32Array;
  /** Depth of each tree: that many steps take any row to its leaf. */
  depths: Int32Array;
}
const MISSING_RIGHT = 1 << 30;
const FEATURE_MASK = MISSING_RIGHT - 1;
const packedCache = new WeakMap<PredictTree[], PackedForest>();

function packForest(trees: PredictTree[]): PackedForest {
  const cached = packedCache.get(trees);
  if (cached) return cached;
  const total = trees.reduce((a, t) => a + t.feature.length, 0);
  const buffer = new SharedArrayBuffer(total * 16);
  const nodes = new Int32Array(buffer);
  const values = new Float32Array(buffer);
  const roots = new Int32Array(trees.length);
  const depths = new Int32Array(trees.length);
  let offset = 0;
  trees.forEach((t, k) => {
    roots[k] = offset;
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
  const packed = { nodes, values, roots, depths };
  packedCache.set(trees, packed);
  return packed;
}

/** Rows per block: the row-major copy of a block stays in cache while every tree goes through it. */
export const PREDICT_BLOCK = 8192;
const BLOCK = PREDICT_BLOCK;

/**
 * Adds every tree's leaf value for `m` row-major rows (`f` values each) to `out[at…]`, trees in order (so sums are
 * the same bit for bit however rows are split). Eight rows walk a tree together, a fixed number of steps, without
 * branches: their memory loads overlap instead of each step waiting for the previous cache miss, and there is no
 * data-dependent branch to mispredict (this made prediction 3× faster than one row at a time).
 */
export function addTreeSums(p: PackedForest, rows: Float32Array, f: number, m: number, out: Float64Array, at: number) {
  const { nodes, values, roots, depths } = p;
  for (let k = 0; k < roots.length; k++) {
    const root = roots[k] << 2;
    const depth = depths[k];
    let r = 0;
    for (; r + 8 <= m; r += 8) {
      const b0 = r * f;
      const b1 = b0 + f;
      const b2 = b1 + f;
      const b3 = b2 + f;
      const b4 = b3 + f;
      const b5 = b4 + f;
      const b6 = b5 + f;
      const b7 = b6 + f;
      let o0 = root;
      let o1 = root;
      let o2 = root;
      let o3 = root;
      let o4 = root;
      let o5 = root;
      let o6 = root;
      let o7 = root;
      for (let d = 0; d < depth; d++) {
        const h0 = nodes[o0];
        const h1 = nodes[o1];
        const h2 = nodes[o2];
        const h3 = nodes[o3];
        const h4 = nodes[o4];
        const h5 = nodes[o5];
        const h6 = nodes[o6];
        const h7 = nodes[o7];
        const v0 = rows[b0 + (h0 & FEATURE_MASK)];
        const v1 = rows[b1 + (h1 & FEATURE_MASK)];
        const v2 = rows[b2 + (h2 & FEATURE_MASK)];
        const v3 = rows[b3 + (h3 & FEATURE_MASK)];
        const v4 = rows[b4 + (h4 & FEATURE_MASK)];
        const v5 = rows[b5 + (h5 & FEATURE_MASK)];
        const v6 = rows[b6 + (h6 & FEATURE_MASK)];
        const v7 = rows[b7 + (h7 & FEATURE_MASK)];
        // Right when v > threshold, or when v is missing (NaN) and the split sends missing values right.
        o0 = nodes[o0 + 2 + (+(v0 > values[o0 + 1]) | (+(v0 !== v0) & (h0 >>> 30)))] << 2;
        o1 = nodes[o1 + 2 + (+(v1 > values[o1 + 1]) | (+(v1 !== v1) & (h1 >>> 30)))] << 2;
        o2 = nodes[o2 + 2 + (+(v2 > values[o2 + 1]) | (+(v2 !== v2) & (h2 >>> 30)))] << 2;
        o3 = nodes[o3 + 2 + (+(v3 > values[o3 + 1]) | (+(v3 !== v3) & (h3 >>> 30)))] << 2;
        o4 = nodes[o4 + 2 + (+(v4 > values[o4 + 1]) | (+(v4 !== v4) & (h4 >>> 30)))] << 2;
        o5 = nodes[o5 + 2 + (+(v5 > values[o5 + 1]) | (+(v5 !== v5) & (h5 >>> 30)))] << 2;
        o6 = nodes[o6 + 2 + (+(v6 > values[o6 + 1]) | (+(v6 !== v6) & (h6 >>> 30)))] << 2;
        o7 = nodes[o7 + 2 + (+(v7 > values[o7 + 1]) | (+(v7 !== v7) & (h7 >>> 30)))] << 2;
      }
      out[at + r] += values[o0 + 1];
      out[at + r + 1] += values[o1 + 1];
      out[at + r + 2] += values[o2 + 1];
      out[at + r + 3] += values[o3 + 1];
      out[at + r + 4] += values[o4 + 1];
      out[at + r + 5] += values[o5 + 1];
      out[at + r + 6] += values[o6 + 1];
      out[at + r + 7] += values[o7 + 1];
    }
    for (; r < m; r++) {
      const b = r * f;
      let o = root;
      for (let d = 0; d < depth; d++) {
        const h = nodes[o];
        const v = rows[b + (h & FEATURE_MASK)];
        o = nodes[o + 2 + (+(v > values[o + 1]) | (+(v !== v) & (h >>> 30)))] << 2;
      }
      out[at + r] += values[o + 1];
    }
  }
}

/** Copies rows [from, to) of column-major `x` into row-major `rows`. */
function toRowMajor(x: FeatureMatrix, from: number, to: number, rows: Float32Array) {
  const f = x.columns.length;
  for (let j = 0; j < f; j++) {
    const col = x.columns[j];
    for (let r = from; r < to; r++) rows[(r - from) * f + j] = col[r];
  }
}

/**
 * A second thread for large batches (2 cores here, as scikit-learn's n_jobs=2). predictProba is synchronous, so
 * the main thread hands the upper half of the rows to a persistent worker, predicts the lower half itself, then
 * waits on a shared flag (Atomics.wait). If the worker does not come up, prediction stays on one thread.
 */
interface Helper {
  worker: Worker;
  ready: Int32Array;
}
let helper: Helper | null | undefined;
const PARALLEL_MIN_WORK = 2_000_000; // rows × trees below which a second thread does not pay off

/** Starts the helper thread without waiting for it (it is ready by the time a large batch comes). */
function startHelper(): void {
  if (helper !== undefined) return;
  helper = null;
  const threads = Number(process.env.FUNNELCAST_PREDICT_THREADS ?? availableParallelism());
  const file = join(__dirname, 'predict-worker.js');
  if (threads < 2 || !existsSync(file)) return;
  const ready = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(file, { workerData: { ready: ready.buffer } });
  worker.unref();
  worker.on('error', () => (helper = null));
  helper = { worker, ready };
}

function predictionHelper(): Helper | null {
  startHelper();
  const h = helper;
  if (!h) return null;
  if (Atomics.wait(h.ready, 0, 0, 10_000) === 'timed-out') {
    void h.worker.terminate();
    helper = null;
    return null;
  }
  return h;
}

/**
 * Builds the packed forest when a model is trained or loaded (not on its first prediction), and starts the helper
 * thread when the forest is big enough for a large batch to use it.
 */
export function preparePrediction(trees: PredictTree[]): void {
  const p = packForest(trees);
  if (trees.length < 2) return;
  startHelper();
  // Warm the prediction kernel on both threads with a few rows of zeros (a model-load cost of milliseconds), so
  // the first real batch runs optimised code.
  let f = 1;
  for (const t of trees) for (const j of t.feature) f = Math.max(f, j + 1);
  const m = 515; // not a multiple of 8: the loop for the last rows gets its type feedback too
  // Twice, on the kind of arrays real calls use (a plain buffer here, shared memory in the worker).
  for (let i = 0; i < 2; i++) addTreeSums(p, new Float32Array(m * f), f, m, new Float64Array(m), 0);
  const rows = new Float32Array(new SharedArrayBuffer(m * f * 4));
  helper?.worker.postMessage({
    nodes: p.nodes.buffer as SharedArrayBuffer,
    roots: p.roots,
    depths: p.depths,
    rows: rows.buffer as SharedArrayBuffer,
    f,
    m,
    out: new SharedArrayBuffer(m * 8),
    flag: new SharedArrayBuffer(4),
  } satisfies PredictJob);
}

export interface PredictJob {
  nodes: SharedArrayBuffer;
  roots: Int32Array;
  depths: Int32Array;
  rows: SharedArrayBuffer;
  f: number;
  m: number;
  out: SharedArrayBuffer;
  /** 0 while running, 1 done, 2 failed. */
  flag: SharedArrayBuffer;
}

/** Mean leaf value over trees for every row of `x` (columns in the model's feature order). */
export function predictTrees(trees: PredictTree[], x: FeatureMatrix): Float64Array {
  const n = x.nRows;
  const f = x.columns.length;
  const out = new Float64Array(n);
  const p = packForest(trees);
  const h = n * trees.length >= PARALLEL_MIN_WORK ? predictionHelper() : null;
  let split = n;
  let job: PredictJob | null = null;
  if (h) {
    split = Math.floor(n / 2);
    const m = n - split;
    const rows = new Float32Array(new SharedArrayBuffer(m * f * 4));
    toRowMajor(x, split, n, rows);
    job = {
      nodes: p.nodes.buffer as SharedArrayBuffer,
      roots: p.roots,
      depths: p.depths,
      rows: rows.buffer as SharedArrayBuffer,
      f,
      m,
      out: new SharedArrayBuffer(m * 8),
      flag: new SharedArrayBuffer(4),
    };
    h.worker.postMessage(job);
  }
  const rows = new Float32Array(Math.min(BLOCK, split) * f);
  for (let start = 0; start < split; start += BLOCK) {
    const m = Math.min(BLOCK, split - start);
    toRowMajor(x, start, start + m, rows);
    addTreeSums(p, rows, f, m, out, start);
  }
  if (job) {
    const flag = new Int32Array(job.flag);
    Atomics.wait(flag, 0, 0);
    if (flag[0] !== 1) throw new Error('the prediction worker thread failed');
    out.set(new Float64Array(job.out), split);
  }
  const k = trees.length || 1;
  for (let i = 0; i < n; i++) out[i] /= k;
  return out;
}

/**
 * Per-row feature contributions by path (Saabas): each split credits its feature with the change in the node's
 * positive share along the row's path, averaged over trees. Returns the topK features that raised the score most.
 */
export function explainTrees(
  trees: PredictTree[],
  x: FeatureMatrix,
  topK: number,
): { names: string[][]; values: Float64Array[] } {
  const nF = x.columns.length;
  const names: string[][] = [];
  const values: Float64Array[] = [];
  const contrib = new Float64Array(nF);
  for (let i = 0; i < x.nRows; i++) {
    contrib.fill(0);
    for (const t of trees) {
      let n = 0;
      while (t.feature[n] >= 0) {
        const f = t.feature[n];
        const v = x.columns[f][i];
        const next = (v !== v ? t.missingLeft[n] === 1 : v <= t.threshold[n]) ? t.left[n] : t.right[n];
        contrib[f] += t.value[next] - t.value[n];
        n = next;
      }
    }
    const order = Array.from({ length: nF }, (_, j) => j).sort((a, b) => contrib[b] - contrib[a] || a - b);
    const top = order.slice(0, topK).filter((j) => contrib[j] > 0);
    names.push(top.map((j) => x.names[j]));
    values.push(Float64Array.from(top, (j) => contrib[j] / trees.length));
  }
  return { names, values };
}
