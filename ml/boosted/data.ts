/**
 * What boosting trains on: the training rows binned on the forest's quantile bins (edges from the training rows
 * only), row-major so a row's codes share a cache line, the early-stopping validation rows binned on the same
 * edges, and the per-row weights (class weights × sample weights).
 */
import type { FeatureMatrix } from '../classifier';
import { holdoutSplit } from '../cv';
import { binEdges, binOf } from '../forest/binning';
import { deriveSeed } from '../random';

export interface BinnedRows {
  nRows: number;
  /** Row i's feature j at [i * nFeatures + j]. */
  codes: Uint8Array;
  y: Uint8Array;
  weight: Float32Array;
}

export interface BoostData {
  nFeatures: number;
  edges: Float32Array[];
  /** Bins per feature (without the missing bin). */
  nBins: Int32Array;
  train: BinnedRows;
  /** Null without early stopping. */
  valid: BinnedRows | null;
  /** Weights of the positive and negative class (1 and 1 without class weighting). */
  wPos: number;
  wNeg: number;
}

/**
 * The rows held out for early stopping: a stratified share of the training rows, drawn from the model's seed, so
 * the same data and seed always hold out the same rows (the bench gives LightGBM and XGBoost these rows too).
 */
export function validationRows(y: Uint8Array, fraction: number, seed: number): { train: number[]; valid: number[] } {
  let nPos = 0;
  for (let i = 0; i < y.length; i++) nPos += y[i];
  if (!(fraction > 0) || nPos < 2 || y.length - nPos < 2) return { train: Array.from(y, (_, i) => i), valid: [] };
  const s = holdoutSplit(y, fraction, deriveSeed(seed, 0x5eed));
  return { train: Array.from(s.train), valid: Array.from(s.test) };
}

function binRows(
  x: FeatureMatrix,
  rows: number[],
  edges: Float32Array[],
  y: Uint8Array,
  weight: (i: number) => number,
): BinnedRows {
  const F = x.columns.length;
  const n = rows.length;
  const codes = new Uint8Array(n * F);
  for (let j = 0; j < F; j++) {
    const col = x.columns[j];
    const e = edges[j];
    for (let r = 0; r < n; r++) codes[r * F + j] = binOf(e, col[rows[r]]);
  }
  return {
    nRows: n,
    codes,
    y: Uint8Array.from(rows, (i) => y[i]),
    weight: Float32Array.from(rows, (i) => weight(i)),
  };
}

export function prepareData(
  x: FeatureMatrix,
  y: Uint8Array,
  opts: {
    maxBins: number;
    classWeight: 'none' | 'balanced';
    validationFraction: number;
    earlyStopping: boolean;
    seed: number;
    sampleWeight?: Float32Array;
  },
): BoostData {
  const n = x.nRows;
  if (y.length !== n) throw new Error(`labels (${y.length}) and rows (${n}) differ`);
  const { train, valid } = opts.earlyStopping
    ? validationRows(y, opts.validationFraction, opts.seed)
    : { train: Array.from(y, (_, i) => i), valid: [] };
  let nPos = 0;
  for (const i of train) nPos += y[i];
  const nT = train.length;
  const balanced = opts.classWeight === 'balanced';
  const wPos = balanced && nPos > 0 ? nT / (2 * nPos) : 1;
  const wNeg = balanced && nPos < nT ? nT / (2 * (nT - nPos)) : 1;
  const weight = (i: number) => (y[i] === 1 ? wPos : wNeg) * (opts.sampleWeight ? opts.sampleWeight[i] : 1);
  const edges = x.columns.map((col) => {
    const sub = train.length === n ? col : Float32Array.from(train, (i) => col[i]);
    return binEdges(sub, opts.maxBins);
  });
  return {
    nFeatures: x.columns.length,
    edges,
    nBins: Int32Array.from(edges, (e) => e.length),
    train: binRows(x, train, edges, y, weight),
    valid: valid.length ? binRows(x, valid, edges, y, () => 1) : null,
    wPos,
    wNeg,
  };
}
