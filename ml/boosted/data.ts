/**
 * What boosting trains on: the training rows binned on the forest's quantile bins (edges from the training rows
 * only), row-major so a row's codes share a cache line, the early-stopping validation rows binned on the same
 * edges, and the per-row weights (class weights × sample weights).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
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

/** What binFeatures bins: features [j0, j0 + cols.length) of the rows `rows` (all the matrix's rows when `all`). */
export interface BinShare {
  /** Feature j0 + k's values of every row of the matrix at cols[k]. */
  cols: Float32Array[];
  j0: number;
  nFeatures: number;
  rows: Uint32Array;
  all: boolean;
  maxBins: number;
  /** Row r's feature j at codes[r·nFeatures + j]. */
  codes: Uint8Array;
}

/** Edges from the training rows and codes of those rows for one share of the features (bin-worker.ts or here). */
export function binFeatures(s: BinShare): Float32Array[] {
  const { rows, nFeatures: F, codes } = s;
  return s.cols.map((col, k) => {
    const j = s.j0 + k;
    const e = binEdges(s.all ? col : Float32Array.from(rows, (i) => col[i]), s.maxBins);
    for (let r = 0; r < rows.length; r++) codes[r * F + j] = binOf(e, col[rows[r]]);
    return e;
  });
}

/** Training rows from which half the features are binned on a worker thread (~0.5 s of a 337k-row fit's 1 s). */
const PARALLEL_BINNING_ROWS = 100_000;

/** The training rows' edges and codes, the second half of the features on a worker thread when `threads` > 1. */
async function binTraining(x: FeatureMatrix, train: number[], maxBins: number, threads: number) {
  const F = x.columns.length;
  const rows = new Uint32Array(new SharedArrayBuffer(4 * Math.max(1, train.length)), 0, train.length);
  rows.set(train);
  const codes = new Uint8Array(new SharedArrayBuffer(Math.max(1, train.length * F)), 0, train.length * F);
  const all = train.length === x.nRows;
  const file = join(__dirname, 'bin-worker.js');
  const cut = threads > 1 && train.length >= PARALLEL_BINNING_ROWS && F > 1 && existsSync(file) ? F >> 1 : F;
  const share = (j0: number, j1: number, cols: Float32Array[]): BinShare => ({
    cols,
    j0,
    nFeatures: F,
    rows,
    all,
    maxBins,
    codes,
  });
  let helper: Promise<Float32Array[]> = Promise.resolve([]);
  if (cut < F) {
    // The worker's columns copied onto shared memory (a memcpy: ~20 ms for 15 columns of 375k rows).
    const cols = x.columns.slice(cut).map((c) => {
      const sc = new Float32Array(new SharedArrayBuffer(4 * Math.max(1, c.length)), 0, c.length);
      sc.set(c);
      return sc;
    });
    helper = new Promise((resolve, reject) => {
      const w = new Worker(file, { workerData: share(cut, F, cols) });
      w.once('message', (e: Float32Array[]) => resolve(e));
      w.once('error', reject);
      w.once('exit', (code) => reject(new Error(`the binning worker exited (${code}) before it finished`)));
    });
  }
  const edges = binFeatures(share(0, cut, x.columns.slice(0, cut)));
  return { edges: [...edges, ...(await helper)], codes };
}

export async function prepareData(
  x: FeatureMatrix,
  y: Uint8Array,
  opts: {
    maxBins: number;
    classWeight: 'none' | 'balanced';
    validationFraction: number;
    earlyStopping: boolean;
    seed: number;
    sampleWeight?: Float32Array;
    threads?: number;
  },
): Promise<BoostData> {
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
  const { edges, codes } = await binTraining(x, train, opts.maxBins, opts.threads ?? 1);
  return {
    nFeatures: x.columns.length,
    edges,
    nBins: Int32Array.from(edges, (e) => e.length),
    train: {
      nRows: nT,
      codes,
      y: Uint8Array.from(train, (i) => y[i]),
      weight: Float32Array.from(train, (i) => weight(i)),
    },
    valid: valid.length ? binRows(x, valid, edges, y, () => 1) : null,
    wPos,
    wNeg,
  };
}
