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
  /** codes[j][i] = bin of row i for feature j (MISSING_BIN for NaN). */
  codes: Uint8Array[];
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
  const e = edges ?? x.columns.map((c) => binEdges(c, maxBins));
  const codes = x.columns.map((col, j) => {
    const out = new Uint8Array(x.nRows);
    const ej = e[j];
    for (let i = 0; i < x.nRows; i++) out[i] = binOf(ej, col[i]);
    return out;
  });
  return { edges: e, codes };
}
