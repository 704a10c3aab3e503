/**
 * The inner loops of forest prediction and explanation, on the packed forest (see predictor.ts). Shared by the
 * main thread and the prediction worker threads, so both compute a row the same way, bit for bit.
 */
// A cycle (boosted/predict.ts shares its batches through predictor.ts, which runs these kernels), harmless: each
// side calls the other only at run time, never while its module loads.
import { addBoostedSums, boostedKeys, keyWords } from '../boosted/predict';

/**
 * The whole forest as one array of 16-byte node records, so a step down a tree touches one cache line instead of
 * one per field array: [feature | missing-goes-right flag (bit 30); threshold, or the leaf's value (float32 bits);
 * left child; right child], child indices global across trees. A leaf points to itself, so every row can take the
 * same number of steps (the tree's depth) without a branch. In shared memory, so prediction worker threads read
 * it without a copy.
 */
export interface PackedForest {
  nodes: Int32Array;
  /** The same memory as `nodes`, read as float32 (thresholds and leaf values). */
  values: Float32Array;
  /** Every node's value (positive share), by global node index: explanations credit the change along a path. */
  nodeValues: Float32Array;
  /** Global index of each tree's root. */
  roots: Int32Array;
  /** Depth of each tree: that many steps take any row to its leaf. */
  depths: Int32Array;
}

/** Bit 30 of a node's first word: missing values go right. */
export const MISSING_RIGHT = 1 << 30;
// Not exported: the compiled module would read an exported constant as a property of `exports` at every step.
const FEATURE_MASK = (1 << 30) - 1;

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

/**
 * Path contributions (Saabas) of `m` row-major rows: every split on a row's path adds the change in node value to
 * `contrib[row * f + feature]` (zeroed by the caller), trees in order and each path from the root, so every sum
 * sees its terms in the same order as a plain walk of one row through one tree after another. Four rows walk a
 * tree together for the tree's depth; a row already at its leaf steps from the leaf to itself and adds +0 to its
 * first feature, which changes nothing (a sum that starts at +0 never becomes −0).
 * With `sums`, each row's leaf values are added to `sums[at + row]` as well, trees in order, exactly as
 * addTreeSums adds them (same bits): scoring takes its predictions from this pass instead of walking every tree a
 * second time (issue 17).
 */
export function addContributions(
  p: PackedForest,
  rows: Float32Array,
  f: number,
  m: number,
  contrib: Float64Array,
  sums: Float64Array | null = null,
  at = 0,
) {
  const { nodes, values, nodeValues, roots, depths } = p;
  for (let k = 0; k < roots.length; k++) {
    const root = roots[k];
    const rootValue = nodeValues[root];
    const depth = depths[k];
    let r = 0;
    for (; r + 4 <= m; r += 4) {
      const b0 = r * f;
      const b1 = b0 + f;
      const b2 = b1 + f;
      const b3 = b2 + f;
      let n0 = root;
      let n1 = root;
      let n2 = root;
      let n3 = root;
      // Each row's current node value, carried down the path: one load per step instead of two.
      let u0 = rootValue;
      let u1 = rootValue;
      let u2 = rootValue;
      let u3 = rootValue;
      for (let d = 0; d < depth; d++) {
        const o0 = n0 << 2;
        const o1 = n1 << 2;
        const o2 = n2 << 2;
        const o3 = n3 << 2;
        const h0 = nodes[o0];
        const h1 = nodes[o1];
        const h2 = nodes[o2];
        const h3 = nodes[o3];
        const j0 = b0 + (h0 & FEATURE_MASK);
        const j1 = b1 + (h1 & FEATURE_MASK);
        const j2 = b2 + (h2 & FEATURE_MASK);
        const j3 = b3 + (h3 & FEATURE_MASK);
        const v0 = rows[j0];
        const v1 = rows[j1];
        const v2 = rows[j2];
        const v3 = rows[j3];
        n0 = nodes[o0 + 2 + (+(v0 > values[o0 + 1]) | (+(v0 !== v0) & (h0 >>> 30)))];
        n1 = nodes[o1 + 2 + (+(v1 > values[o1 + 1]) | (+(v1 !== v1) & (h1 >>> 30)))];
        n2 = nodes[o2 + 2 + (+(v2 > values[o2 + 1]) | (+(v2 !== v2) & (h2 >>> 30)))];
        n3 = nodes[o3 + 2 + (+(v3 > values[o3 + 1]) | (+(v3 !== v3) & (h3 >>> 30)))];
        const w0 = nodeValues[n0];
        const w1 = nodeValues[n1];
        const w2 = nodeValues[n2];
        const w3 = nodeValues[n3];
        contrib[j0] += w0 - u0;
        contrib[j1] += w1 - u1;
        contrib[j2] += w2 - u2;
        contrib[j3] += w3 - u3;
        u0 = w0;
        u1 = w1;
        u2 = w2;
        u3 = w3;
      }
      if (sums !== null) {
        sums[at + r] += u0;
        sums[at + r + 1] += u1;
        sums[at + r + 2] += u2;
        sums[at + r + 3] += u3;
      }
    }
    for (; r < m; r++) {
      const leaf = addRowContributions(p, root, rows, r * f, contrib);
      if (sums !== null) sums[at + r] += nodeValues[leaf];
    }
  }
}

/** addContributions for one row (`b`: its offset in `rows`) through the tree at `root`; returns its leaf. */
function addRowContributions(p: PackedForest, root: number, rows: Float32Array, b: number, contrib: Float64Array) {
  const { nodes, values, nodeValues } = p;
  let n = root;
  for (;;) {
    const o = n << 2;
    const h = nodes[o];
    const j = b + (h & FEATURE_MASK);
    const v = rows[j];
    const x = nodes[o + 2 + (+(v > values[o + 1]) | (+(v !== v) & (h >>> 30)))];
    if (x === n) return n;
    contrib[j] += nodeValues[x] - nodeValues[n];
    n = x;
  }
}

/**
 * The `topK` features with the largest positive contribution for each of `m` rows (ties: the lower feature index
 * first), as feature indices (−1 past the last reason) and contributions divided by `nTrees`, at `idx[at * topK…]`.
 * Overwrites the chosen entries of `contrib`.
 */
export function topReasons(
  contrib: Float64Array,
  f: number,
  m: number,
  topK: number,
  nTrees: number,
  idx: Int32Array,
  vals: Float64Array,
  at: number,
) {
  for (let r = 0; r < m; r++) {
    const b = r * f;
    const o = (at + r) * topK;
    let t = 0;
    for (; t < topK; t++) {
      let best = 0;
      let bj = -1;
      for (let j = 0; j < f; j++) {
        const v = contrib[b + j];
        if (v > best) {
          best = v;
          bj = j;
        }
      }
      if (bj < 0) break;
      idx[o + t] = bj;
      vals[o + t] = best / nTrees;
      contrib[b + bj] = -Infinity;
    }
    for (; t < topK; t++) {
      idx[o + t] = -1;
      vals[o + t] = 0;
    }
  }
}

/** Copies rows [from, to) of column-major `columns` into row-major `rows`. */
export function toRowMajor(columns: Float32Array[], from: number, to: number, rows: Float32Array) {
  const f = columns.length;
  for (let j = 0; j < f; j++) {
    const col = columns[j];
    for (let r = from; r < to; r++) rows[(r - from) * f + j] = col[r];
  }
}

/**
 * What a batch computes: each row's sum of leaf values, each row's top reasons, or the sum of leaf values of a
 * boosted model's leaf-wise trees (packed by ml/boosted/predict.ts, walked with its early-exit kernel).
 */
export const SUMS = 0;
export const REASONS = 1;
export const LEAFWISE_SUMS = 2;

export interface BatchOutput {
  /** Per row, zeroed before the batch: SUMS and LEAFWISE_SUMS, and REASONS too (the sums of the same walk). */
  sums: Float64Array;
  /** REASONS: per row × topK. */
  reasonIdx: Int32Array;
  reasonValues: Float64Array;
}

/** Per-thread buffers for one block of rows. */
export interface Scratch {
  rows: Float32Array;
  contrib: Float64Array;
  /** LEAFWISE_SUMS: the rows as the boosted kernel's integer keys (ml/boosted/predict.ts) instead of `rows`. */
  keys: Int32Array;
}

/** This thread's last scratch: a thread computes one block at a time, and every kernel overwrites what it reads. */
let spare: Scratch | null = null;

/**
 * Buffers for blocks of `block` rows of `kind` on `f` features: this thread's last ones when they are large enough.
 * Fresh buffers of a small batch cost more than its walk: on CDNOW's 5,893 rows, zeroing (and faulting in) a megabyte
 * of keys per call was 7 % of a boosted prediction.
 */
export function newScratch(kind: number, block: number, f: number): Scratch {
  const rows = kind !== LEAFWISE_SUMS ? block * f : 0;
  const contrib = kind === REASONS ? block * f : 0;
  const keys = kind === LEAFWISE_SUMS ? keyWords(block, f) : 0;
  const s = spare;
  if (s && s.rows.length >= rows && s.contrib.length >= contrib && s.keys.length >= keys) return s;
  spare = {
    rows: new Float32Array(Math.max(rows, s?.rows.length ?? 0)),
    contrib: new Float64Array(Math.max(contrib, s?.contrib.length ?? 0)),
    keys: new Int32Array(Math.max(keys, s?.keys.length ?? 0)),
  };
  return spare;
}

/** Computes rows [from, to) of `columns` into `out`, starting at row `at` of the output. */
export function runRows(
  kind: number,
  p: PackedForest,
  columns: Float32Array[],
  from: number,
  to: number,
  topK: number,
  s: Scratch,
  out: BatchOutput,
  at: number,
) {
  const f = columns.length;
  const m = to - from;
  if (kind === LEAFWISE_SUMS) {
    boostedKeys(p, columns, from, to, s.keys);
    addBoostedSums(p, s.keys, m, out.sums, at);
    return;
  }
  toRowMajor(columns, from, to, s.rows);
  if (kind === SUMS) addTreeSums(p, s.rows, f, m, out.sums, at);
  else {
    s.contrib.fill(0, 0, m * f);
    addContributions(p, s.rows, f, m, s.contrib, out.sums, at);
    topReasons(s.contrib, f, m, topK, p.roots.length, out.reasonIdx, out.reasonValues, at);
  }
}
