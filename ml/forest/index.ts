/**
 * funnelcast's random forest: histogram split search on binned features (binning.ts), features sampled per
 * split, class weights, bootstrap with out-of-bag score, impurity and permutation importances, and trees grown
 * in parallel on worker threads. Written here because ml-random-forest is ~300× slower than scikit-learn and
 * samples features per tree; no maintained JS library offers a histogram forest.
 *
 * Determinism: tree t is grown from deriveSeed(seed, t) alone, so the forest is the same whichever thread
 * grows which tree.
 *
 * Probabilities: the mean of the trees' leaf rates is not a probability (votes are pulled toward the middle, and
 * class weights shift them), so predictProba applies Platt scaling fitted on the out-of-bag votes (ml/calibration);
 * without bootstrap, on 3-fold cross-fitted forests. predictUncalibrated gives the raw vote mean.
 */
import os from 'node:os';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../infra/atomic';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Classifier, FeatureImportance, FeatureMatrix, FitOptions, SerializedModel } from '../classifier';
import type { ForestParams } from '../../pipelines/schema/model';
import { deriveSeed, mulberry32 } from '../random';
import { binMatrix } from './binning';
import { buildForestTree, leafOfBinned, type BuildJob, type TreeArrays, type TreeData, type TreeParams } from './tree';
import {
  explainTrees,
  FOREST_FORMAT_VERSION,
  predictTrees,
  preparePrediction,
  serializeTree,
  deserializeTree,
  type PredictTree,
  type SerializedTree,
} from './predictor';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { applyCalibration, crossFittedScores, fitCalibration, type Calibration } from '../calibration';
import { DEFAULT_CLASS_WEIGHT } from '../../pipelines/schema/model';

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
    const p = this.params;
    const n = x.nRows;
    if (y.length !== n) throw new Error(`labels (${y.length}) and rows (${n}) differ`);
    this.featureNames = [...x.names];
    const bins = binMatrix(x, p.maxBins);
    let nPos = 0;
    for (let i = 0; i < n; i++) nPos += y[i];
    const wPos = p.classWeight === 'balanced' && nPos > 0 ? n / (2 * nPos) : 1;
    const wNeg = p.classWeight === 'balanced' && nPos < n ? n / (2 * (n - nPos)) : 1;
    const weight = new Float32Array(new SharedArrayBuffer(4 * n));
    for (let i = 0; i < n; i++)
      weight[i] = (y[i] === 1 ? wPos : wNeg) * (options.sampleWeight ? options.sampleWeight[i] : 1);
    const treeParams: TreeParams = {
      maxDepth: p.maxDepth,
      minSamplesLeaf: p.minSamplesLeaf,
      minSamplesSplit: p.minSamplesSplit,
      mtry: resolveMtry(p.maxFeatures, x.columns.length),
      criterion: p.criterion,
    };
    const jobs: BuildJob[] = Array.from({ length: p.nTrees }, (_, t) => ({
      treeIndex: t,
      seed: deriveSeed(this.seed, t),
      bootstrap: p.bootstrap,
    }));
    const trees: TreeArrays[] = new Array(p.nTrees);
    // Per-tree importances and out-of-bag sums are added up in tree order at the end, so the result does not
    // depend on which thread finished first or on a resume after a crash.
    const treeImportance: ArrayLike<number>[] = new Array(p.nTrees);
    const oobSum = new Float64Array(n);
    const oobCnt = new Uint32Array(n);
    let done = 0;
    const report = () => options.onProgress?.({ done, total: p.nTrees, unit: 'trees' });
    // Resume: trees saved by an earlier attempt are reused; their out-of-bag rows are found again by replaying
    // the tree's bootstrap draw from its seed.
    const ckpt = options.checkpointDir;
    const saved = ckpt ? loadCheckpoint(ckpt, p.nTrees) : new Map<number, { tree: TreeArrays; importance: number[] }>();
    for (const [t, c] of saved) {
      trees[t] = c.tree;
      treeImportance[t] = c.importance;
      done++;
    }
    this.resumedTrees = saved.size;
    const save = (t: number, tree: TreeArrays, imp: ArrayLike<number>) => {
      if (ckpt)
        writeFileAtomic(
          join(ckpt, `tree-${String(t).padStart(5, '0')}.json`),
          JSON.stringify({
            tree: { ...serializeTree(tree), bin: Buffer.from(tree.bin).toString('base64') },
            importance: Array.from(imp),
          }),
          { signal: options.signal, tag: options.writerTag },
        );
    };
    jobs.splice(0, jobs.length, ...jobs.filter((j) => !saved.has(j.treeIndex)));
    const threads = n * jobs.length < 200_000 || jobs.length === 0 ? 1 : Math.min(this.threads, jobs.length);
    const builtBy = new Set<number>();

    if (threads <= 1) {
      const yShared = y;
      const data: TreeData = { nRows: n, codes: bins.codes, edges: bins.edges, y: yShared, weight };
      for (const job of jobs) {
        if (options.signal?.aborted) throw new Error('training cancelled');
        const r = buildForestTree(data, job, treeParams);
        if (options.signal?.aborted) throw new Error('training cancelled');
        trees[job.treeIndex] = r.tree;
        treeImportance[job.treeIndex] = r.importance;
        save(job.treeIndex, r.tree, r.importance);
        done++;
        report();
        // Yield to the event loop between trees so heartbeats and cancellation get through.
        if (done % 5 === 0) await nextTurn();
      }
    } else {
      await this.fitInWorkers(bins, y, weight, treeParams, jobs, threads, options, (t, r, imp, threadId) => {
        builtBy.add(threadId);
        trees[t] = r;
        treeImportance[t] = imp;
        save(t, r, imp);
        done++;
        report();
      });
    }
    const importance = new Float64Array(x.columns.length);
    for (const imp of treeImportance) for (let j = 0; j < importance.length; j++) importance[j] += imp[j];
    const allJobs: BuildJob[] = trees.map((_, t) => ({
      treeIndex: t,
      seed: deriveSeed(this.seed, t),
      bootstrap: p.bootstrap,
    }));
    if (p.bootstrap) {
      const data: TreeData = { nRows: n, codes: bins.codes, edges: bins.edges, y, weight };
      for (let t = 0; t < trees.length; t++) replayOob(data, allJobs[t], trees[t], oobSum, oobCnt);
    }

    this.trees = trees;
    preparePrediction(this.trees);
    const total = importance.reduce((a, b) => a + b, 0) || 1;
    this.impurityImportance = Array.from(importance, (v) => v / total);
    if (p.bootstrap) ({ proba: this.oobProba, score: this.oobScore } = outOfBag(oobSum, oobCnt, y));
    this.workerThreadsUsed = builtBy.size;
    if (this.uncalibratedPart) return;
    this.calibration = p.bootstrap
      ? fitCalibration(this.oobProba!, y, 'out-of-bag')
      : fitCalibration(await this.crossFittedVotes(x, y, options.signal), y, 'cross-fitted');
  }

  /** Vote means of 3 forests, each grown without one third of the rows and asked about that third. */
  private async crossFittedVotes(x: FeatureMatrix, y: Uint8Array, signal?: AbortSignal): Promise<Float64Array> {
    const create = () => {
      const f = new RandomForest(this.params, this.seed, this.threads);
      // Each part predicts its raw votes (no calibration of its own): the calibration is fitted on them.
      f.uncalibratedPart = true;
      return f;
    };
    return crossFittedScores(create, x, y, 3, this.seed, signal);
  }

  private fitInWorkers(
    bins: { codes: Uint8Array[]; edges: Float32Array[] },
    y: Uint8Array,
    weight: Float32Array,
    params: TreeParams,
    jobs: BuildJob[],
    threads: number,
    options: FitOptions,
    onTree: (t: number, tree: TreeArrays, importance: Float64Array, threadId: number) => void,
  ): Promise<void> {
    const n = y.length;
    const nF = bins.codes.length;
    const codes = new SharedArrayBuffer(n * nF);
    const codesView = new Uint8Array(codes);
    bins.codes.forEach((c, j) => codesView.set(c, j * n));
    const ySab = new SharedArrayBuffer(n);
    new Uint8Array(ySab).set(y);
    const workerFile = join(__dirname, 'tree-worker.js');
    const workers: Worker[] = [];
    return new Promise<void>((resolve, reject) => {
      let finished = 0;
      let failed = false;
      const stopAll = (e: Error) => {
        if (failed) return;
        failed = true;
        options.signal?.removeEventListener('abort', onAbort);
        for (const w of workers) void w.terminate();
        reject(e);
      };
      const onAbort = () => stopAll(new Error('training cancelled'));
      // A signal that fired before this point dispatches no 'abort' event any more: start no worker at all.
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      for (let k = 0; k < threads; k++) {
        // Round-robin assignment: which worker grows a tree never changes the tree (its seed does).
        const mine = jobs.filter((_, t) => t % threads === k);
        const w = new Worker(workerFile, {
          workerData: {
            nRows: n,
            nFeatures: nF,
            codes,
            y: ySab,
            weight: weight.buffer,
            edges: bins.edges,
            params,
            jobs: mine,
          },
        });
        workers.push(w);
        w.on('message', (m: { type: string; index: number; tree: TreeArrays; importance: Float64Array }) => {
          // Trees still queued from a terminated worker are dropped: nothing is saved after a cancellation.
          if (failed) return;
          if (m.type === 'tree') onTree(m.index, m.tree, m.importance, w.threadId);
          else {
            if (++finished === threads) {
              options.signal?.removeEventListener('abort', onAbort);
              for (const ww of workers) void ww.terminate();
              resolve();
            }
          }
        });
        w.on('error', (e) => stopAll(e));
      }
    });
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

function loadCheckpoint(dir: string, nTrees: number): Map<number, { tree: TreeArrays; importance: number[] }> {
  const out = new Map<number, { tree: TreeArrays; importance: number[] }>();
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    return out;
  }
  for (const f of readdirSync(dir)) {
    const m = /^tree-(\d+)\.json$/.exec(f);
    if (!m || Number(m[1]) >= nTrees) continue;
    const c = JSON.parse(readFileSync(join(dir, f), 'utf8')) as {
      tree: SerializedTree & { bin: string };
      importance: number[];
    };
    const bin = Buffer.from(c.tree.bin, 'base64');
    out.set(Number(m[1]), {
      tree: { ...deserializeTree(c.tree), bin: new Uint8Array(bin.buffer, bin.byteOffset, bin.length) } as TreeArrays,
      importance: c.importance,
    });
  }
  return out;
}

/** Out-of-bag vote means (NaN for rows every tree drew) and accuracy at threshold 0.5. */
function outOfBag(oobSum: Float64Array, oobCnt: Uint32Array, y: Uint8Array) {
  let correct = 0,
    counted = 0;
  const proba = new Float64Array(y.length).fill(NaN);
  for (let i = 0; i < y.length; i++) {
    if (oobCnt[i] === 0) continue;
    proba[i] = oobSum[i] / oobCnt[i];
    counted++;
    if ((proba[i] >= 0.5 ? 1 : 0) === y[i]) correct++;
  }
  return { proba, score: counted ? correct / counted : null };
}

/** Adds a saved tree's out-of-bag predictions, replaying its bootstrap draw (same seed, same draw). */
function replayOob(data: TreeData, job: BuildJob, tree: TreeArrays, oobSum: Float64Array, oobCnt: Uint32Array) {
  const rng = mulberry32(job.seed);
  const counts = new Uint16Array(data.nRows);
  for (let k = 0; k < data.nRows; k++) counts[Math.floor(rng() * data.nRows)]++;
  for (let i = 0; i < data.nRows; i++) {
    if (counts[i] !== 0) continue;
    oobSum[i] += tree.value[leafOfBinned(tree, data.codes, i)];
    oobCnt[i]++;
  }
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
