/**
 * funnelcast's random forest: histogram split search on binned features (binning.ts), features sampled per
 * split, class weights, bootstrap with out-of-bag score, impurity and permutation importances, and trees grown
 * in parallel on worker threads. Written here because ml-random-forest is ~300× slower than scikit-learn and
 * samples features per tree; no maintained JS library offers a histogram forest.
 *
 * Determinism: tree t is grown from deriveSeed(seed, t) alone, so the forest is the same whichever thread
 * grows which tree.
 *
 * Scale: each tree draws at most `maxSamples` rows (scikit-learn's max_samples; by default the larger of 100,000
 * and 10 % of the rows), so a tree's cost grows far slower than the table while the forest still sees every row
 * across its trees; and fitBinned trains
 * on rows of one shared binned table, so cross-validation folds share one allocation instead of a copy each.
 *
 * Probabilities: the mean of the trees' leaf rates is not a probability (votes are pulled toward the middle, and
 * class weights shift them), so predictProba applies Platt scaling fitted on the out-of-bag votes (ml/calibration);
 * without bootstrap, on 3-fold cross-fitted forests. predictUncalibrated gives the raw vote mean.
 */
import os from 'node:os';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Classifier, FeatureImportance, FeatureMatrix, FitOptions, SerializedModel } from '../classifier';
import { selectLabels } from '../classifier';
import type { ForestParams } from '../../pipelines/schema/model';
import { DEFAULT_CLASS_WEIGHT, DEFAULT_MAX_SAMPLES, DEFAULT_MAX_SAMPLES_FRACTION } from '../../pipelines/schema/model';
import { deriveSeed } from '../random';
import { stratifiedKFold } from '../cv';
import { binMatrix, decodeRows, selectBinnedRows, type Bins } from './binning';
import { buildForestTree, type BuildJob, type TreeArrays, type TreeData, type TreeParams } from './tree';
import { growInWorkers, loadCheckpoint, oobRowsOf, outOfBag, saveCheckpointTree } from './grow';
import { explainTrees, treeReasons, predictTrees, preparePrediction } from './predictor';
import {
  FOREST_FORMAT_VERSION,
  serializeTree,
  deserializeTree,
  type PredictTree,
  type SerializedTree,
} from './serialize';
import { applyCalibration, crossFittedScores, fitCalibration, type Calibration } from '../calibration';
import { majoritySample, oddsShift, type MajoritySample, type TrainingSample } from '../downsample';

export const DEFAULT_FOREST_PARAMS: ForestParams = {
  nTrees: 100,
  maxDepth: 12,
  minSamplesLeaf: 5,
  minSamplesSplit: 10,
  maxFeatures: 'sqrt',
  criterion: 'gini',
  classWeight: DEFAULT_CLASS_WEIGHT,
  bootstrap: true,
  maxBins: 255,
  maxSamples: 'auto',
  downsampleMajority: 'auto',
};

export function resolveMtry(maxFeatures: ForestParams['maxFeatures'], nFeatures: number): number {
  if (maxFeatures === 'sqrt') return Math.max(1, Math.round(Math.sqrt(nFeatures)));
  if (maxFeatures === 'log2') return Math.max(1, Math.round(Math.log2(nFeatures)));
  if (maxFeatures <= 1) return Math.max(1, Math.round(maxFeatures * nFeatures));
  return Math.min(nFeatures, Math.round(maxFeatures));
}

interface ForestPayload {
  params: ForestParams;
  seed: number;
  trees: SerializedTree[];
  importances: number[];
  oobScore: number | null;
  /** Absent in models saved before calibration: their scores stay the raw vote mean. */
  calibration?: Calibration | null;
}

export class RandomForest implements Classifier {
  readonly engine = 'forest';
  readonly params: ForestParams;
  trees: PredictTree[] = [];
  featureNames: string[] = [];
  impurityImportance: number[] = [];
  /** Out-of-bag accuracy at threshold 0.5 (with bootstrap), and the OOB probabilities themselves. */
  oobScore: number | null = null;
  oobProba: Float64Array | null = null;
  /** Trees taken from the checkpoint folder instead of grown (after a crash). */
  resumedTrees = 0;
  /** Maps the vote mean to a calibrated probability (fitted on out-of-bag or cross-fitted votes). */
  calibration: Calibration | null = null;
  /** The majority-class downsampling of the last fit (null: every training row); see ml/downsample. */
  trainingSample: TrainingSample | null = null;
  /** How many distinct worker threads grew trees in the last fit (0 when it grew them on this thread). */
  workerThreadsUsed = 0;
  private uncalibratedPart = false;

  constructor(
    params: Partial<ForestParams> = {},
    readonly seed = 42,
    readonly threads = Math.max(1, Math.min(os.availableParallelism?.() ?? os.cpus().length, 8)),
  ) {
    this.params = { ...DEFAULT_FOREST_PARAMS, ...params };
  }

  async fit(x: FeatureMatrix, y: Uint8Array, options: FitOptions = {}): Promise<void> {
    if (y.length !== x.nRows) throw new Error(`labels (${y.length}) and rows (${x.nRows}) differ`);
    await this.fitBinned(binMatrix(x, this.params.maxBins), x.names, y, null, options, () =>
      this.crossFittedVotes(x, y, options.signal),
    );
  }

  /**
   * Fits on rows `rows` (null = all) of an already binned table: every fold of a run trains on the same shared
   * codes (1 byte per value), and only its training rows are copied, once, into a table of their own. `y` covers
   * the whole table; out-of-bag probabilities (oobProba) are for the training rows oobRowsOf picks.
   */
  async fitBinned(
    bins: Bins,
    names: string[],
    y: Uint8Array,
    rows: Uint32Array | null,
    options: FitOptions = {},
    crossFitted?: () => Promise<Float64Array>,
  ): Promise<void> {
    if (y.length !== bins.nRows) throw new Error(`labels (${y.length}) and rows (${bins.nRows}) differ`);
    this.featureNames = [...names];
    // The trees see every minority row and a draw of the majority (ml/downsample); per-row sample weights (uplift's
    // transformed outcome) are positional and keep every row.
    const p = this.params;
    const sample = options.sampleWeight ? null : majoritySample(p.downsampleMajority, y, rows, this.seed);
    this.trainingSample = sample && { ...sample, rows: sample.rows.length };
    const kept = sample?.rows ?? rows;
    // The training rows' codes copied once into a table of their own, in the same order (so the same draws and the
    // same trees): each tree then draws and gathers its rows from this table instead of the whole one (at 10 M
    // events, gathering every tree's rows out of the 3.2 M-row table took a third of the forest's CPU).
    if (kept) await this.fitAll(selectBinnedRows(bins, kept), selectLabels(y, kept), options, undefined, sample);
    else await this.fitAll(bins, y, options, crossFitted, null);
  }

  /** Grows the forest on every row of `bins`, then its out-of-bag score and calibration. */
  private async fitAll(
    bins: Bins,
    y: Uint8Array,
    options: FitOptions,
    crossFitted: (() => Promise<Float64Array>) | undefined,
    sample: MajoritySample | null,
  ): Promise<void> {
    const p = this.params;
    const n = bins.nRows;
    const weight = trainingWeights(y, null, p.classWeight, options.sampleWeight);
    const data: TreeData = { nRows: n, codes: bins.codes, edges: bins.edges, y, weight, rowSet: null };
    const treeParams: TreeParams = {
      maxDepth: p.maxDepth,
      minSamplesLeaf: p.minSamplesLeaf,
      minSamplesSplit: p.minSamplesSplit,
      mtry: resolveMtry(p.maxFeatures, bins.codes.length),
      criterion: p.criterion,
    };
    const samples = resolveMaxSamples(p.maxSamples, n);
    const allJobs: BuildJob[] = Array.from({ length: p.nTrees }, (_, t) => ({
      treeIndex: t,
      seed: deriveSeed(this.seed, t),
      bootstrap: p.bootstrap,
      ...(p.bootstrap && samples < n ? { samples } : {}),
    }));
    const { trees, importance } = await this.growAll(data, bins, treeParams, allJobs, samples, options);
    this.trees = trees;
    preparePrediction(this.trees);
    const total = importance.reduce((a, b) => a + b, 0) || 1;
    this.impurityImportance = Array.from(importance, (v) => v / total);
    let oobRows: Uint32Array | null = null;
    if (p.bootstrap) {
      oobRows = oobRowsOf(null, n);
      ({ proba: this.oobProba, score: this.oobScore } = await outOfBag(data, allJobs, trees, oobRows));
    }
    if (this.uncalibratedPart) return;
    const c = oobRows
      ? fitCalibration(this.oobProba!, selectLabels(y, oobRows), 'out-of-bag')
      : fitCalibration(
          crossFitted ? await crossFitted() : await this.crossFittedBinned(bins, y, options),
          y,
          'cross-fitted',
        );
    // Fitted on the sample: its log-odds are shifted back to the whole population's (exact, see ml/downsample).
    this.calibration = sample ? { ...c, c: c.c + oddsShift(sample), oddsShift: oddsShift(sample) } : c;
  }

  /** Grows every tree not already in the checkpoint folder, on this thread or on worker threads. */
  private async growAll(
    data: TreeData,
    bins: Bins,
    treeParams: TreeParams,
    allJobs: BuildJob[],
    samples: number,
    options: FitOptions,
  ): Promise<{ trees: TreeArrays[]; importance: Float64Array }> {
    const nTrees = allJobs.length;
    const trees: TreeArrays[] = new Array(nTrees);
    // Per-tree importances are added up in tree order at the end, so the result does not depend on which thread
    // finished first or on a resume after a crash.
    const treeImportance: ArrayLike<number>[] = new Array(nTrees);
    let done = 0;
    const report = () => options.onProgress?.({ done, total: nTrees, unit: 'trees' });
    // Resume: trees saved by an earlier attempt are reused; their out-of-bag rows are found again by replaying
    // the tree's bootstrap draw from its seed.
    const ckpt = options.checkpointDir;
    const saved = ckpt ? loadCheckpoint(ckpt, nTrees) : new Map<number, { tree: TreeArrays; importance: number[] }>();
    for (const [t, c] of saved) {
      trees[t] = c.tree;
      treeImportance[t] = c.importance;
      done++;
    }
    this.resumedTrees = saved.size;
    const onTree = (t: number, tree: TreeArrays, imp: ArrayLike<number>) => {
      trees[t] = tree;
      treeImportance[t] = imp;
      if (ckpt) saveCheckpointTree(ckpt, t, tree, imp, options);
      done++;
      report();
    };
    const jobs = allJobs.filter((j) => !saved.has(j.treeIndex));
    // Work per tree grows with the rows it draws: small fits stay on this thread (starting workers costs more).
    const threads = samples * jobs.length < 200_000 || jobs.length === 0 ? 1 : Math.min(this.threads, jobs.length);
    const builtBy = new Set<number>();
    if (threads <= 1) {
      for (const job of jobs) {
        if (options.signal?.aborted) throw new Error('training cancelled');
        const r = buildForestTree(data, job, treeParams);
        if (options.signal?.aborted) throw new Error('training cancelled');
        onTree(job.treeIndex, r.tree, r.importance);
        // Yield to the event loop between trees so heartbeats and cancellation get through.
        if (done % 5 === 0) await nextTurn();
      }
    } else {
      const g = { bins, y: data.y, weight: data.weight, rowSet: data.rowSet ?? null, params: treeParams };
      await growInWorkers(g, jobs, threads, options, (t, r, imp, threadId) => {
        builtBy.add(threadId);
        onTree(t, r, imp);
      });
    }
    this.workerThreadsUsed = builtBy.size;
    const importance = new Float64Array(bins.codes.length);
    for (const imp of treeImportance) for (let j = 0; j < importance.length; j++) importance[j] += imp[j];
    return { trees, importance };
  }

  /** Vote means of 3 forests, each grown without one third of the rows and asked about that third. */
  private async crossFittedVotes(x: FeatureMatrix, y: Uint8Array, signal?: AbortSignal): Promise<Float64Array> {
    return crossFittedScores(() => this.part(), x, y, 3, this.seed, signal);
  }

  /** As crossFittedVotes, on every row of a binned table (each part trains on its rows without a copy of them). */
  private async crossFittedBinned(bins: Bins, y: Uint8Array, options: FitOptions): Promise<Float64Array> {
    const out = new Float64Array(y.length).fill(NaN);
    let nPos = 0;
    for (let k = 0; k < y.length; k++) nPos += y[k];
    if (Math.min(nPos, y.length - nPos) < 3) return out;
    for (const s of stratifiedKFold(y, 3, this.seed)) {
      const f = this.part();
      await f.fitBinned(bins, this.featureNames, y, s.train, { signal: options.signal });
      const columns = decodeRows(bins, s.test);
      const v = f.predictUncalibrated({ nRows: s.test.length, names: this.featureNames, columns });
      s.test.forEach((k, j) => (out[k] = v[j]));
    }
    return out;
  }

  /** A part of a cross-fit: predicts its raw votes (no calibration of its own), the calibration is fitted on them. */
  private part(): RandomForest {
    // On the rows its whole forest trains on (already downsampled when that applies): no second draw.
    const f = new RandomForest({ ...this.params, downsampleMajority: null }, this.seed, this.threads);
    f.uncalibratedPart = true;
    return f;
  }

  /** Calibrated probability of the positive class (see the calibration note at the top). */
  predictProba(x: FeatureMatrix): Float64Array {
    return applyCalibration(this.calibration, this.predictUncalibrated(x));
  }

  /** The mean of the trees' leaf values: a ranking score, not a probability. */
  predictUncalibrated(x: FeatureMatrix): Float64Array {
    if (this.trees.length === 0) throw new Error('the forest is not trained');
    return predictTrees(this.trees, alignColumns(x, this.featureNames));
  }

  explain(x: FeatureMatrix, topK = 3) {
    return explainTrees(this.trees, alignColumns(x, this.featureNames), topK);
  }

  /**
   * predictProba and the top reasons from one walk of every tree (the same probabilities, bit for bit): scoring
   * every user walked the trees twice, once for each (issue 17). Reasons index the model's feature names.
   */
  scoreWithReasons(x: FeatureMatrix, topK = 3) {
    if (this.trees.length === 0) throw new Error('the forest is not trained');
    const r = treeReasons(this.trees, alignColumns(x, this.featureNames), topK);
    return { p: applyCalibration(this.calibration, r.means), names: this.featureNames, codes: r.reasonIdx };
  }

  featureImportances(): FeatureImportance[] {
    return this.featureNames
      .map((name, j) => ({ name, importance: this.impurityImportance[j] ?? 0 }))
      .sort((a, b) => b.importance - a.importance);
  }

  serialize(): SerializedModel {
    const payload: ForestPayload = {
      params: this.params,
      seed: this.seed,
      trees: this.trees.map(serializeTree),
      importances: this.impurityImportance,
      oobScore: this.oobScore,
      calibration: this.calibration,
    };
    return { engine: 'forest', formatVersion: FOREST_FORMAT_VERSION, featureNames: this.featureNames, payload };
  }

  static deserialize(s: SerializedModel): RandomForest {
    if (s.engine !== 'forest') throw new Error(`not a forest model: ${s.engine}`);
    if (s.formatVersion !== FOREST_FORMAT_VERSION)
      throw new Error(
        `forest format version ${s.formatVersion} is not supported (this build reads ${FOREST_FORMAT_VERSION})`,
      );
    const p = s.payload as ForestPayload;
    const f = new RandomForest(p.params, p.seed);
    f.trees = p.trees.map(deserializeTree);
    preparePrediction(f.trees);
    f.featureNames = [...s.featureNames];
    f.impurityImportance = p.importances;
    f.oobScore = p.oobScore;
    f.calibration = p.calibration ?? null;
    return f;
  }
}

/** Per-row weights over the whole table: class weight × sample weight on the training rows, 0 elsewhere. */
function trainingWeights(
  y: Uint8Array,
  rows: Uint32Array | null,
  classWeight: ForestParams['classWeight'],
  sampleWeight?: Float32Array,
): Float32Array {
  const n = y.length;
  const m = rows ? rows.length : n;
  let nPos = 0;
  for (let k = 0; k < m; k++) nPos += y[rows ? rows[k] : k];
  const wPos = classWeight === 'balanced' && nPos > 0 ? m / (2 * nPos) : 1;
  const wNeg = classWeight === 'balanced' && nPos < m ? m / (2 * (m - nPos)) : 1;
  const weight = new Float32Array(new SharedArrayBuffer(4 * n));
  for (let k = 0; k < m; k++) {
    const i = rows ? rows[k] : k;
    weight[i] = (y[i] === 1 ? wPos : wNeg) * (sampleWeight ? sampleWeight[k] : 1);
  }
  return weight;
}

/**
 * Bootstrap draws per tree from `maxSamples`: a fraction of the training rows when ≤ 1, a count when larger (at
 * most the rows there are), all rows when absent — scikit-learn's max_samples; 'auto' scales with the table
 * (pipelines/schema/model.ts: DEFAULT_MAX_SAMPLES).
 */
export function resolveMaxSamples(maxSamples: ForestParams['maxSamples'] | undefined, rows: number): number {
  if (maxSamples == null) return rows;
  if (maxSamples === 'auto')
    return Math.min(rows, Math.max(DEFAULT_MAX_SAMPLES, Math.round(DEFAULT_MAX_SAMPLES_FRACTION * rows)));
  const k = maxSamples <= 1 ? Math.round(maxSamples * rows) : Math.round(maxSamples);
  return Math.max(1, Math.min(rows, k));
}

/** Reorders a matrix's columns to the model's feature order (by name), failing clearly on a missing feature. */
export function alignColumns(x: FeatureMatrix, names: string[]): FeatureMatrix {
  if (x.names.length === names.length && x.names.every((n, j) => n === names[j])) return x;
  const pos = new Map(x.names.map((n, j) => [n, j]));
  return {
    nRows: x.nRows,
    names,
    columns: names.map((n) => {
      const j = pos.get(n);
      if (j === undefined) throw new Error(`the data lacks the feature "${n}" the model was trained with`);
      return x.columns[j];
    }),
  };
}
