/**
 * Sums of a boosted model's leaf values, for prediction. The forest's kernel (ml/forest/kernels.ts) walks every row
 * through a tree for the tree's full depth, without branches, which suits a forest's balanced trees. Boosting's
 * leaf-wise trees are lopsided: on the bench's 31-leaf trees the deepest leaf is 10.7 steps down on average while a
 * row takes 3.5 steps, so a fixed-depth walk does three times the work. Here eight rows still walk a tree together
 * without data-dependent branches (their loads overlap), but the walk stops as soon as all eight stand on leaves.
 *
 * Each row's sum adds the trees' float32 leaf values in tree order into a double, as the forest's kernel does, so
 * the margins are the same bits as before this kernel (the unit test compares them with predictTrees).
 */
import type { FeatureMatrix } from '../classifier';
import { leafwiseSums } from '../forest/predictor';
import type { BoostTree } from './grow';

type Tree = Pick<BoostTree, 'feature' | 'threshold' | 'missingLeft' | 'left' | 'right' | 'value'>;

/** Bit 31 of a node's first word: a leaf. Bit 30: missing values go right. */
const LEAF = 1 << 31;
const MISSING_RIGHT = 1 << 30;
const FEATURE_MASK = (1 << 30) - 1;

/**
 * Every tree's nodes as 16-byte records, [feature | flags; threshold, or a leaf's value (float32 bits); left; right]
 * (child indices global, × 4: the record's first word); a leaf points to itself, so a row that reached its leaf
 * while others of its group still walk stays there.
 */
export interface PackedBoosted {
  nodes: Int32Array;
  values: Float32Array;
  roots: Int32Array;
}

export function packBoosted(trees: Tree[]): PackedBoosted {
  const total = trees.reduce((a, t) => a + t.feature.length, 0);
  // In shared memory: large batches are walked by the forest's prediction threads too (predictor.ts leafwiseSums).
  const nodes = new Int32Array(new SharedArrayBuffer(total * 16));
  const values = new Float32Array(nodes.buffer);
  const roots = new Int32Array(new SharedArrayBuffer(trees.length * 4));
  let offset = 0;
  trees.forEach((t, k) => {
    roots[k] = offset * 4;
    for (let i = 0; i < t.feature.length; i++) {
      const o = (offset + i) * 4;
      const leaf = t.feature[i] < 0;
      nodes[o] = leaf ? LEAF : t.feature[i] | (t.missingLeft[i] === 1 ? 0 : MISSING_RIGHT);
      values[o + 1] = leaf ? t.value[i] : t.threshold[i];
      nodes[o + 2] = leaf ? o : (offset + t.left[i]) * 4;
      nodes[o + 3] = leaf ? o : (offset + t.right[i]) * 4;
    }
    offset += t.feature.length;
  });
  return { nodes, values, roots };
}

/** Adds every tree's leaf value for `m` row-major rows (`f` values each) to out[at…], trees in order. */
export function addBoostedSums(
  p: PackedBoosted,
  rows: Float32Array,
  f: number,
  m: number,
  out: Float64Array,
  at: number,
) {
  const { nodes, values, roots } = p;
  for (let k = 0; k < roots.length; k++) {
    const root = roots[k];
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
      for (;;) {
        const h0 = nodes[o0];
        const h1 = nodes[o1];
        const h2 = nodes[o2];
        const h3 = nodes[o3];
        const h4 = nodes[o4];
        const h5 = nodes[o5];
        const h6 = nodes[o6];
        const h7 = nodes[o7];
        if ((h0 & h1 & h2 & h3 & h4 & h5 & h6 & h7) < 0) break; // all eight on leaves (bit 31)
        // Right when v > threshold, or when v is missing (NaN) and the split sends missing values right. A leaf's
        // children are itself, whichever side its row "goes".
        const v0 = rows[b0 + (h0 & FEATURE_MASK)];
        const v1 = rows[b1 + (h1 & FEATURE_MASK)];
        const v2 = rows[b2 + (h2 & FEATURE_MASK)];
        const v3 = rows[b3 + (h3 & FEATURE_MASK)];
        const v4 = rows[b4 + (h4 & FEATURE_MASK)];
        const v5 = rows[b5 + (h5 & FEATURE_MASK)];
        const v6 = rows[b6 + (h6 & FEATURE_MASK)];
        const v7 = rows[b7 + (h7 & FEATURE_MASK)];
        o0 = nodes[o0 + 2 + (+(v0 > values[o0 + 1]) | (+(v0 !== v0) & ((h0 >>> 30) & 1)))];
        o1 = nodes[o1 + 2 + (+(v1 > values[o1 + 1]) | (+(v1 !== v1) & ((h1 >>> 30) & 1)))];
        o2 = nodes[o2 + 2 + (+(v2 > values[o2 + 1]) | (+(v2 !== v2) & ((h2 >>> 30) & 1)))];
        o3 = nodes[o3 + 2 + (+(v3 > values[o3 + 1]) | (+(v3 !== v3) & ((h3 >>> 30) & 1)))];
        o4 = nodes[o4 + 2 + (+(v4 > values[o4 + 1]) | (+(v4 !== v4) & ((h4 >>> 30) & 1)))];
        o5 = nodes[o5 + 2 + (+(v5 > values[o5 + 1]) | (+(v5 !== v5) & ((h5 >>> 30) & 1)))];
        o6 = nodes[o6 + 2 + (+(v6 > values[o6 + 1]) | (+(v6 !== v6) & ((h6 >>> 30) & 1)))];
        o7 = nodes[o7 + 2 + (+(v7 > values[o7 + 1]) | (+(v7 !== v7) & ((h7 >>> 30) & 1)))];
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
      for (let h = nodes[o]; h >= 0; h = nodes[o]) {
        const v = rows[b + (h & FEATURE_MASK)];
        o = nodes[o + 2 + (+(v > values[o + 1]) | (+(v !== v) & ((h >>> 30) & 1)))];
      }
      out[at + r] += values[o + 1];
    }
  }
}

const packedCache = new WeakMap<Tree[], PackedBoosted>();

/** Each row's sum of leaf values over `trees` (columns in the model's feature order), shared with the helper threads. */
export function boostedSums(trees: Tree[], x: FeatureMatrix): Float64Array {
  let p = packedCache.get(trees);
  if (!p) packedCache.set(trees, (p = packBoosted(trees)));
  return leafwiseSums(p, x);
}
