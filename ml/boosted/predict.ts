/**
 * Sums of a boosted model's leaf values, for prediction. The forest's kernel (ml/forest/kernels.ts) walks every row
 * through a tree for the tree's full depth, without branches, which suits a forest's balanced trees. Boosting's
 * leaf-wise trees are lopsided: on the bench's 31-leaf trees the deepest leaf is 10.7 steps down on average while a
 * row takes 3.5 steps, so a fixed-depth walk does three times the work. Here eight rows still walk a tree together
 * without data-dependent branches (their loads overlap), but the walk stops as soon as all eight stand on leaves.
 *
 * A step is one integer comparison, with no test for missing values: each row's features are first turned into
 * order-preserving integer keys (keyOf), NaN the smallest of all, so NaN never goes right. A split that sends
 * missing values right is walked on the negated feature instead, with its children swapped: "v ≤ t" is "−v ≥ −t",
 * i.e. key(−v) > key(−t) − 1, false for NaN, which so goes to the original right child. The keys compare as the
 * float32 values do (−0 = +0, infinities in order), so every row reaches the leaf the float comparisons reached
 * (the walk took 1.92 ms instead of 2.72 on CDNOW's 5,893 held-out rows and 28 trees, against floats and that test).
 *
 * Each row's sum adds the trees' float32 leaf values in tree order into a double, as the forest's kernel does, so
 * the margins are the same bits as before this kernel (the unit tests compare them with predictTrees).
 */
import type { FeatureMatrix } from '../classifier';
import { leafwiseSums, warmLeafwiseHelpers } from '../forest/predictor';
import type { BoostTree } from './grow';

type Tree = Pick<BoostTree, 'feature' | 'threshold' | 'missingLeft' | 'left' | 'right' | 'value'>;

const MIN_KEY = -0x80000000;
const MAX_KEY = 0x7fffffff;

/**
 * The integer key of a float32's bits: sign-magnitude to two's complement (so −0 and +0 are both 0, and keys
 * order as the floats), NaN the smallest key of all (no float's key is below −0x7f800000, −∞'s).
 */
export function keyOf(bits: number): number {
  const a = bits & 0x7fffffff;
  return a > 0x7f800000 ? MIN_KEY : bits < 0 ? -a : bits;
}

const f32 = new Float32Array(1);
const f32Bits = new Int32Array(f32.buffer);
const bitsOf = (v: number) => ((f32[0] = v), f32Bits[0]);

/**
 * Every tree's nodes as 16-byte records after a header. Header: [S, LEAF, slot 0 … slot S−1], padded to 4 words;
 * a slot is a feature (code 2j) or its negation (2j + 1), and a row's keys are its slots' keys, S per row. Record:
 * [slot, or LEAF for a leaf; threshold key, or the leaf's value (float32 bits); child on "key ≤ threshold"; child on
 * "key > threshold"] (indices global, × 4: the record's first word). LEAF is the power of two above every slot, so
 * the AND of eight rows' first words has it only when all eight stand on leaves; a leaf points to itself, so a row
 * that reached its leaf while others of its group still walk stays there (reading the key LEAF words on, which the
 * key buffer's padding holds).
 */
export interface PackedBoosted {
  nodes: Int32Array;
  values: Float32Array;
  roots: Int32Array;
}

/** Header words and the leaf marker for `slots` slots. */
const headerWords = (slots: number) => 4 * Math.ceil((2 + slots) / 4);
const leafMarker = (slots: number) => 1 << Math.ceil(Math.log2(Math.max(1, slots + 1)));

/** The slots the trees read, in first-use order: a missing-right split reads its feature negated. */
function treeSlots(trees: Tree[]): Map<number, number> {
  const slots = new Map<number, number>();
  for (const t of trees)
    for (let i = 0; i < t.feature.length; i++)
      if (t.feature[i] >= 0) {
        const code = 2 * t.feature[i] + (t.missingLeft[i] === 1 ? 0 : 1);
        if (!slots.has(code)) slots.set(code, slots.size);
      }
  return slots;
}

export function packBoosted(trees: Tree[]): PackedBoosted {
  const slots = treeSlots(trees);
  const S = slots.size;
  const LEAF = leafMarker(S);
  const head = headerWords(S);
  const total = trees.reduce((a, t) => a + t.feature.length, 0);
  // In shared memory: large batches are walked by the forest's prediction threads too (predictor.ts leafwiseSums).
  const nodes = new Int32Array(new SharedArrayBuffer((head + total * 4) * 4));
  const values = new Float32Array(nodes.buffer);
  const roots = new Int32Array(new SharedArrayBuffer(trees.length * 4));
  nodes[0] = S;
  nodes[1] = LEAF;
  for (const [code, s] of slots) nodes[2 + s] = code;
  let offset = head / 4;
  trees.forEach((t, k) => {
    roots[k] = offset * 4;
    for (let i = 0; i < t.feature.length; i++) {
      const o = (offset + i) * 4;
      if (t.feature[i] < 0) {
        nodes[o] = LEAF;
        values[o + 1] = t.value[i];
        nodes[o + 2] = o;
        nodes[o + 3] = o;
      } else if (t.missingLeft[i] === 1) {
        // Right when v > t; NaN (the smallest key) goes left, and so does everything when t is NaN.
        const th = t.threshold[i];
        nodes[o] = slots.get(2 * t.feature[i])!;
        nodes[o + 1] = th !== th ? MAX_KEY : keyOf(bitsOf(th));
        nodes[o + 2] = (offset + t.left[i]) * 4;
        nodes[o + 3] = (offset + t.right[i]) * 4;
      } else {
        // On −v, children swapped: left when −v ≥ −t (v ≤ t); NaN goes right, and so does only NaN when t is NaN.
        const th = t.threshold[i];
        nodes[o] = slots.get(2 * t.feature[i] + 1)!;
        nodes[o + 1] = th !== th ? MIN_KEY : keyOf(bitsOf(-th)) - 1;
        nodes[o + 2] = (offset + t.right[i]) * 4;
        nodes[o + 3] = (offset + t.left[i]) * 4;
      }
    }
    offset += t.feature.length;
  });
  return { nodes, values, roots };
}

/** Int32 words a key buffer needs for `m` rows of a model on `f` features (slots ≤ 2f, padding for LEAF). */
export const keyWords = (m: number, f: number) => m * 2 * f + leafMarker(2 * f) + 1;

/** The keys of rows [from, to) of `columns` (the model's features), S per row, into keys[0…]. */
export function boostedKeys(p: PackedBoosted, columns: Float32Array[], from: number, to: number, keys: Int32Array) {
  const { nodes } = p;
  const S = nodes[0];
  for (let s = 0; s < S; s++) {
    const code = nodes[2 + s];
    const c = columns[code >> 1];
    const bits = new Int32Array(c.buffer, c.byteOffset, c.length);
    const flip = (code & 1) << 31; // negation: the sign bit flipped
    for (let r = from, k = s; r < to; r++, k += S) {
      const b = bits[r] ^ flip;
      const a = b & 0x7fffffff;
      keys[k] = a > 0x7f800000 ? MIN_KEY : b < 0 ? -a : b;
    }
  }
}

/** Adds every tree's leaf value for the `m` rows of `keys` (boostedKeys) to out[at…], trees in order. */
export function addBoostedSums(p: PackedBoosted, keys: Int32Array, m: number, out: Float64Array, at: number) {
  const { nodes, values, roots } = p;
  const S = nodes[0];
  const LEAF = nodes[1];
  for (let k = 0; k < roots.length; k++) {
    const root = roots[k];
    let r = 0;
    for (; r + 8 <= m; r += 8) {
      const b0 = r * S;
      const b1 = b0 + S;
      const b2 = b1 + S;
      const b3 = b2 + S;
      const b4 = b3 + S;
      const b5 = b4 + S;
      const b6 = b5 + S;
      const b7 = b6 + S;
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
        if ((h0 & h1 & h2 & h3 & h4 & h5 & h6 & h7 & LEAF) !== 0) break; // all eight on leaves
        o0 = nodes[o0 + 2 + +(keys[b0 + h0] > nodes[o0 + 1])];
        o1 = nodes[o1 + 2 + +(keys[b1 + h1] > nodes[o1 + 1])];
        o2 = nodes[o2 + 2 + +(keys[b2 + h2] > nodes[o2 + 1])];
        o3 = nodes[o3 + 2 + +(keys[b3 + h3] > nodes[o3 + 1])];
        o4 = nodes[o4 + 2 + +(keys[b4 + h4] > nodes[o4 + 1])];
        o5 = nodes[o5 + 2 + +(keys[b5 + h5] > nodes[o5 + 1])];
        o6 = nodes[o6 + 2 + +(keys[b6 + h6] > nodes[o6 + 1])];
        o7 = nodes[o7 + 2 + +(keys[b7 + h7] > nodes[o7 + 1])];
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
      const b = r * S;
      let o = root;
      for (let h = nodes[o]; h !== LEAF; h = nodes[o]) o = nodes[o + 2 + +(keys[b + h] > nodes[o + 1])];
      out[at + r] += values[o + 1];
    }
  }
}

const packedCache = new WeakMap<Tree[], PackedBoosted>();

function packedOf(trees: Tree[]): PackedBoosted {
  let p = packedCache.get(trees);
  if (!p) packedCache.set(trees, (p = packBoosted(trees)));
  return p;
}

/** Each row's sum of leaf values over `trees` (columns in the model's feature order), shared with the helper threads. */
export function boostedSums(trees: Tree[], x: FeatureMatrix): Float64Array {
  const p = packedOf(trees);
  return leafwiseSums(p, x);
}

/**
 * Packs a model's trees and walks a few rows of zeros through them twice, when the model is trained or loaded (a
 * cost of milliseconds), so its first real batch does not start in the interpreter: in a fresh process on the busy
 * machine (load 20), the first prediction of CDNOW's 5,893 rows took 231 ms without it and 22 to 55 ms with it (the
 * optimising compiler still at work), the later ones 2.2 ms.
 */
export function prepareBoosted(trees: Tree[], nFeatures: number): void {
  if (trees.length === 0) return;
  const m = 515; // not a multiple of 8: the loop for the last rows gets its type feedback too
  const x: FeatureMatrix = {
    nRows: m,
    names: Array.from({ length: nFeatures }, (_, j) => `x${j}`),
    columns: Array.from({ length: nFeatures }, () => new Float32Array(m)),
  };
  for (let i = 0; i < 2; i++) boostedSums(trees, x);
  // The helper threads too: batches from 50,000 rows × trees are shared with them (predictor.ts leafwiseSums), and
  // a cold helper that takes a block makes the main thread wait for it.
  warmLeafwiseHelpers(packedOf(trees), nFeatures, 4 * m);
}
