/**
 * One gradient-boosting tree on binned rows (the forest's binning, ml/forest/binning.ts), grown leaf-wise as
 * LightGBM does: the leaf whose best split gains most is split next, until the leaf limit (or no split gains).
 * Split search scans per-feature histograms of gradient, hessian and count; a child's histogram is built only
 * for the smaller child and the larger one's is the parent's minus it (the histogram subtraction trick).
 * Missing values (MISSING_BIN) are tried on both sides of every split.
 *
 * Pure and synchronous: histograms are built by the WebAssembly kernel (kernel.ts) through `hists`, which may
 * share a histogram's features out between threads (hist-pool.ts); each feature's sums are the same whichever
 * thread adds them, so the tree is too.
 */
import { MISSING_BIN } from '../forest/binning';
import type { TreeArrays } from '../forest/tree';
import { BINS, type Hist } from './kernel';

export interface GrowParams {
  numLeaves: number;
  /** 0: no depth limit. */
  maxDepth: number;
  l2: number;
  minDataInLeaf: number;
  minHessianInLeaf: number;
  minGainToSplit: number;
  learningRate: number;
}

/**
 * The kernel's work on ranges of the tree's rows (hist-pool.ts): histogram buffers, building one, subtracting,
 * partitioning the rows by a split.
 */
export interface GrowOps {
  take(): Hist;
  release(h: Hist): void;
  /** The histogram of rows[start, end) for the tree's features. */
  build(start: number, end: number, h: Hist): void;
  /** parent −= child, for the tree's features. */
  subtract(parent: Hist, child: Hist): void;
  /**
   * Partitions rows[start, end) by the split (code ≤ bin goes left, missing codes left when missLeft = 1), left
   * rows first, each side keeping its order; returns where the right rows begin.
   */
  partition(start: number, end: number, feature: number, bin: number, missLeft: number): number;
}

/** A boosting tree: the forest's flat arrays (value = every node's Newton step × learning rate) and split gains. */
export interface BoostTree extends TreeArrays {
  gain: Float32Array;
}

export interface Split {
  gain: number;
  feature: number;
  bin: number;
  missingLeft: number;
  /** Left child's gradient, hessian and count sums. */
  gl: number;
  hl: number;
  cl: number;
}

const leafScore = (g: number, h: number, l2: number) => (h + l2 > 0 ? (g * g) / (h + l2) : 0);

/** The best split of a leaf with sums (g, h, c), or null when none gains more than minGainToSplit. */
export function bestSplit(
  hist: Hist,
  feats: Int32Array,
  nBins: Int32Array,
  g: number,
  h: number,
  c: number,
  p: GrowParams,
): Split | null {
  const parent = leafScore(g, h, p.l2);
  let best: Split | null = null;
  let bestGain = p.minGainToSplit;
  const { gh, count } = hist;
  for (let t = 0; t < feats.length; t++) {
    const j = feats[t];
    const base = j * BINS;
    const m = base + MISSING_BIN;
    const mg = gh[2 * m];
    const mh = gh[2 * m + 1];
    const mc = count[m];
    let lg = 0;
    let lh = 0;
    let lc = 0;
    const nb = nBins[j];
    for (let bin = 0; bin < nb - 1; bin++) {
      const o = base + bin;
      if (count[o] === 0 && bin > 0) continue; // same partition as the previous boundary
      lg += gh[2 * o];
      lh += gh[2 * o + 1];
      lc += count[o];
      for (let side = 0; side < (mc > 0 ? 2 : 1); side++) {
        const GL = side === 1 ? lg + mg : lg;
        const HL = side === 1 ? lh + mh : lh;
        const CL = side === 1 ? lc + mc : lc;
        const CR = c - CL;
        const HR = h - HL;
        if (CL < p.minDataInLeaf || CR < p.minDataInLeaf || HL < p.minHessianInLeaf || HR < p.minHessianInLeaf)
          continue;
        const gain = leafScore(GL, HL, p.l2) + leafScore(g - GL, HR, p.l2) - parent;
        if (gain > bestGain) {
          bestGain = gain;
          // Without missing values in this leaf, unseen missing values follow the heavier child.
          const missingLeft = side === 1 ? 1 : mc > 0 ? 0 : HL >= HR ? 1 : 0;
          best = { gain, feature: j, bin, missingLeft, gl: GL, hl: HL, cl: CL };
        }
      }
    }
  }
  return best;
}

interface Leaf {
  node: number;
  start: number;
  end: number;
  depth: number;
  g: number;
  h: number;
  hist: Hist | null;
  split: Split | null;
}

class Nodes {
  feature: number[] = [];
  bin: number[] = [];
  threshold: number[] = [];
  missingLeft: number[] = [];
  left: number[] = [];
  right: number[] = [];
  value: number[] = [];
  gain: number[] = [];

  add(value: number): number {
    this.feature.push(-1);
    this.bin.push(0);
    this.threshold.push(0);
    this.missingLeft.push(0);
    this.left.push(-1);
    this.right.push(-1);
    this.value.push(value);
    this.gain.push(0);
    return this.feature.length - 1;
  }

  done(): BoostTree {
    return {
      feature: Int32Array.from(this.feature),
      bin: Uint8Array.from(this.bin),
      threshold: Float32Array.from(this.threshold),
      missingLeft: Uint8Array.from(this.missingLeft),
      left: Int32Array.from(this.left),
      right: Int32Array.from(this.right),
      value: Float32Array.from(this.value),
      gain: Float32Array.from(this.gain),
    };
  }
}

export interface GrowInput {
  nBins: Int32Array;
  edges: Float32Array[];
  /** The gradient and hessian of rows[k] as the pair k (moved with the rows by the partitions). */
  gh: Float32Array;
  /** The rows of this round (partitioned in place into the leaves: each leaf owns rows[start, end)). */
  rows: Uint32Array;
  /** The features of this tree, ascending. */
  feats: Int32Array;
  /** Histograms of the tree's features over ranges of `rows`, and partitions of them. */
  hists: GrowOps;
}

/** Grows one tree; `leaves` receives each leaf's node and row range (for the caller's score update). */
export function growTree(
  d: GrowInput,
  p: GrowParams,
  leaves: { node: number; start: number; end: number }[],
): BoostTree {
  const nodes = new Nodes();
  const hists = d.hists;
  const value = (g: number, h: number) => (h + p.l2 > 0 ? (-g / (h + p.l2)) * p.learningRate : 0);
  const splittable = (depth: number, n: number) => (p.maxDepth === 0 || depth < p.maxDepth) && n >= 2 * p.minDataInLeaf;
  const withSplit = (leaf: Leaf) => {
    if (leaf.hist) leaf.split = bestSplit(leaf.hist, d.feats, d.nBins, leaf.g, leaf.h, leaf.end - leaf.start, p);
    return leaf;
  };

  let g0 = 0;
  let h0 = 0;
  const { gh, rows } = d;
  for (let k = 0; k < rows.length; k++) {
    g0 += gh[2 * k];
    h0 += gh[2 * k + 1];
  }
  const open: Leaf[] = [];
  const root: Leaf = {
    node: nodes.add(value(g0, h0)),
    start: 0,
    end: d.rows.length,
    depth: 0,
    g: g0,
    h: h0,
    hist: null,
    split: null,
  };
  if (p.numLeaves > 1 && splittable(0, d.rows.length)) {
    root.hist = hists.take();
    hists.build(0, d.rows.length, root.hist);
  }
  open.push(withSplit(root));
  const closed: Leaf[] = [];
  while (open.length + closed.length < p.numLeaves) {
    let at = -1;
    for (let k = 0; k < open.length; k++)
      if (open[k].split && (at < 0 || open[k].split!.gain > open[at].split!.gain)) at = k;
    if (at < 0) break;
    const leaf = open.splice(at, 1)[0];
    const [L, R] = splitLeaf(leaf, d, nodes, value);
    const canL = splittable(L.depth, L.end - L.start);
    const canR = splittable(R.depth, R.end - R.start);
    childHistograms(hists, leaf.hist!, [L, canL], [R, canR]);
    for (const c of [L, R]) (c.hist ? open : closed).push(withSplit(c));
  }
  for (const leaf of [...open, ...closed]) {
    leaves.push({ node: leaf.node, start: leaf.start, end: leaf.end });
    if (leaf.hist) hists.release(leaf.hist);
  }
  return nodes.done();
}

/**
 * Partitions a leaf's rows by its best split and records the split in its node; returns the two children (their
 * values from the split's gradient sums, no histograms yet).
 */
function splitLeaf(leaf: Leaf, d: GrowInput, nodes: Nodes, value: (g: number, h: number) => number): [Leaf, Leaf] {
  const s = leaf.split!;
  const mid = d.hists.partition(leaf.start, leaf.end, s.feature, s.bin, s.missingLeft);
  const child = (start: number, end: number, g: number, h: number): Leaf => ({
    node: nodes.add(value(g, h)),
    start,
    end,
    depth: leaf.depth + 1,
    g,
    h,
    hist: null,
    split: null,
  });
  const L = child(leaf.start, mid, s.gl, s.hl);
  const R = child(mid, leaf.end, leaf.g - s.gl, leaf.h - s.hl);
  const n = leaf.node;
  nodes.feature[n] = s.feature;
  nodes.bin[n] = s.bin;
  nodes.threshold[n] = d.edges[s.feature][s.bin];
  nodes.missingLeft[n] = s.missingLeft;
  nodes.left[n] = L.node;
  nodes.right[n] = R.node;
  nodes.gain[n] = s.gain;
  return [L, R];
}

/**
 * The histograms of the children that can still split: the smaller child's from its rows, the larger one's by
 * subtraction, in the parent's buffer. A child that cannot split keeps none.
 */
function childHistograms(hists: GrowOps, parentHist: Hist, [L, canL]: [Leaf, boolean], [R, canR]: [Leaf, boolean]) {
  if (!canL && !canR) {
    hists.release(parentHist);
    return;
  }
  const [small, large] = L.end - L.start <= R.end - R.start ? [L, R] : [R, L];
  small.hist = hists.take();
  hists.build(small.start, small.end, small.hist);
  hists.subtract(parentHist, small.hist);
  large.hist = parentHist;
  for (const c of [L, R])
    if (!(c === L ? canL : canR)) {
      hists.release(c.hist!);
      c.hist = null;
    }
}

/** The leaf a row of row-major binned codes reaches. */
export function leafOfCodes(t: TreeArrays, codes: Uint8Array, F: number, i: number): number {
  let n = 0;
  const b = i * F;
  while (t.feature[n] >= 0) {
    const c = codes[b + t.feature[n]];
    n = (c === MISSING_BIN ? t.missingLeft[n] === 1 : c <= t.bin[n]) ? t.left[n] : t.right[n];
  }
  return n;
}
