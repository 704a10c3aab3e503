/**
 * Quantile binning, as LightGBM and scikit-learn's HistGradientBoosting do: each feature is cut into at most
 * `maxBins` bins at quantiles of its values, and trees search splits over bins instead of sorted values. This
 * makes split search O(rows) per node and feature instead of O(rows log rows).
 *
 * Missing values (NaN) get their own bin, MISSING_BIN, and each split decides which side they go to.
 */
import type { FeatureMatrix } from '../classifier';

export const MISSING_BIN = 255;

export interface Bins {
  /** edges[j][b] = the largest value in bin b of feature j (Float32, as the data); bin b holds v ≤ edges[j][b]. */
  edges: Float32Array[];
  /** codes[j][i] = bin of row i for feature j (MISSING_BIN for NaN): views into `shared`. */
  codes: Uint8Array[];
  /**
   * All codes, column-major (feature j's rows at j·nRows), in one SharedArrayBuffer: tree worker threads and
   * every fold trained on the same table read this one allocation (1 byte per value instead of a Float32 copy).
   */
  shared: Uint8Array;
  nRows: number;
}

/** nRows × nFeatures codes in one SharedArrayBuffer, with a view per feature. */
export function allocateBins(nRows: number, edges: Float32Array[]): Bins {
  const shared = new Uint8Array(new SharedArrayBuffer(Math.max(1, nRows * edges.length)));
  const codes = edges.map((_, j) => shared.subarray(j * nRows, (j + 1) * nRows));
  return { edges, codes, shared, nRows };
}

/** Bins rows [from, from + m) of feature j from `values` (one chunk of a column read as a stream). */
export function binInto(bins: Bins, j: number, from: number, values: ArrayLike<number>, m = values.length): void {
  const out = bins.codes[j];
  const ej = bins.edges[j];
  for (let r = 0; r < m; r++) out[from + r] = binOf(ej, values[r]);
}

/** Rows `rows` of binned data as a binned table of their own (same edges, row k = rows[k]). */
export function selectBinnedRows(bins: Bins, rows: ArrayLike<number>): Bins {
  const out = allocateBins(rows.length, bins.edges);
  bins.codes.forEach((c, j) => {
    const o = out.codes[j];
    for (let k = 0; k < rows.length; k++) o[k] = c[rows[k]];
  });
  return out;
}

/**
 * Rows `rows` of binned data as Float32 columns, each code replaced by its bin's upper edge (NaN for missing).
 * A tree's threshold is an edge, and edge[c] ≤ edge[b] exactly when c ≤ b, so a forest grown on these bins
 * predicts the decoded rows exactly as it predicts the raw ones.
 */
export function decodeRows(bins: Bins, rows: ArrayLike<number>): Float32Array[] {
  return bins.codes.map((c, j) => {
    const e = bins.edges[j];
    const out = new Float32Array(rows.length);
    for (let k = 0; k < rows.length; k++) {
      const code = c[rows[k]];
      out[k] = code === MISSING_BIN ? NaN : e[code];
    }
    return out;
  });
}

/** Bin edges from (a sample of) a column: distinct values when few, else quantiles. */
export function binEdges(col: Float32Array, maxBins: number, sampleSize = 200_000): Float32Array {
  const step = col.length > sampleSize ? col.length / sampleSize : 1;
  const vals: number[] = [];
  for (let k = 0; k < col.length; k += step) {
    const v = col[Math.floor(k)];
    if (!Number.isNaN(v)) vals.push(v);
  }
  if (vals.length === 0) return new Float32Array([Infinity]);
  const sorted = Float32Array.from(vals).sort();
  const distinct: number[] = [];
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) distinct.push(sorted[i]);
  const nb = Math.min(maxBins, MISSING_BIN);
  if (distinct.length <= nb) {
    const e = Float32Array.from(distinct);
    e[e.length - 1] = Infinity; // the last bin takes everything above (values unseen in training)
    return e;
  }
  const edges: number[] = [];
  for (let b = 1; b < nb; b++) {
    const v = sorted[Math.min(sorted.length - 1, Math.floor((b * sorted.length) / nb))];
    if (edges.length === 0 || v > edges[edges.length - 1]) edges.push(v);
  }
  edges.push(Infinity);
  return Float32Array.from(edges);
}

/** The bin of a value: the first edge ≥ v (binary search), MISSING_BIN for NaN. */
export function binOf(edges: Float32Array, v: number): number {
  if (Number.isNaN(v)) return MISSING_BIN;
  let lo = 0;
  let hi = edges.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v <= edges[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export function binMatrix(x: FeatureMatrix, maxBins: number, edges?: Float32Array[]): Bins {
  const bins = allocateBins(x.nRows, edges ?? x.columns.map((c) => binEdges(c, maxBins)));
  x.columns.forEach((col, j) => binInto(bins, j, 0, col, x.nRows));
  return bins;
}
