/**
 * funnelcast's gradient-boosted trees (`model.engine: "boosted"`): histogram gradient boosting for binary log
 * loss, LightGBM's recipe — leaf-wise trees on the forest's quantile bins (ml/forest/binning.ts), a leaf limit and
 * an optional depth limit, learning rate, L2 on leaf values, min data / min hessian per leaf, row and feature
 * subsampling, missing values sent to the better side of each split, early stopping on a stratified validation
 * share of the training rows, gain importances, checkpoints every N rounds. Prediction has its own kernel for
 * lopsided leaf-wise trees (predict.ts); per-user reasons (path contributions) run on the forest's packed trees,
 * kernels and prediction threads (ml/forest/predictor.ts).
 *
 * Written here because no well-kept JavaScript library does this at speed (checked on npm, 2026-12):
 * `ml-xgboost` (mljs) is an old XGBoost compiled to WebAssembly, single-threaded, exact split search only, without
 * missing-value handling, early stopping or explanations; `lightgbm` is a native binding for Node of no recent
 * release that needs a compiler at install; `xgboost-scorer` only scores models trained elsewhere. Python's
 * LightGBM and XGBoost are the references in `npm run bench -- boosted`.
 *
 * Probabilities: log loss is a proper scoring rule, so without class weights σ(score) is already calibrated.
 * With class weights ('balanced') the scores are shifted toward the minority class: the published probability
 * is then beta-calibrated (ml/calibration.ts) on the validation rows, which the trees never trained on, or,
 * without validation rows, prior-corrected (odds × w₋/w₊, as the LSTM).
 */
import os from 'node:os';
import type { BoostedParams } from '../../pipelines/schema/model';
import { DEFAULT_CLASS_WEIGHT } from '../../pipelines/schema/model';
import type { Classifier, FeatureImportance, FeatureMatrix, FitOptions, SerializedModel } from '../classifier';
import { applyCalibration, fitCalibration, type Calibration } from '../calibration';
import { alignColumns } from '../forest';
import { addContributions, toRowMajor } from '../forest/kernels';
import { explainTrees, packForest, preparePrediction } from '../forest/predictor';
import { deserializeTree, serializeTree, type PredictTree, type SerializedTree } from '../forest/serialize';
import { boost } from './boost';
import { prepareData } from './data';
import { boostedSums, prepareBoosted } from './predict';

export const BOOSTED_FORMAT_VERSION = 1;

export const DEFAULT_BOOSTED_PARAMS: BoostedParams = {
  nRounds: 500,
  learningRate: 0.1,
  numLeaves: 31,
  maxDepth: 0,
  l2: 0,
  minDataInLeaf: 20,
  minHessianInLeaf: 1e-3,
  minGainToSplit: 0,
  rowSubsample: 1,
  featureSubsample: 1,
  maxBins: 255,
  classWeight: DEFAULT_CLASS_WEIGHT,
  earlyStoppingRounds: 20,
  validationFraction: 0.1,
  checkpointEvery: 10,
};

/** What turns σ(score) into the published probability when class weights shifted it (see the note at the top). */
export type BoostedCalibration =
  (Omit<Calibration, 'source'> & { source: 'validation' }) | { kind: 'prior'; shift: number; source: 'class weights' };

interface BoostedPayload {
  params: BoostedParams;
  seed: number;
  bias: number;
  trees: SerializedTree[];
  importances: number[];
  bestRound: number;
  roundsGrown: number;
  validLoss: number | null;
  calibration: BoostedCalibration | null;
}

const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

export class BoostedTrees implements Classifier {
  readonly engine = 'boosted';
  readonly params: BoostedParams;
  trees: PredictTree[] = [];
  bias = 0;
  featureNames: string[] = [];
  gainImportance: number[] = [];
  calibration: BoostedCalibration | null = null;
  /** Rounds grown (early stopping keeps the first bestRound of them). */
  roundsGrown = 0;
  bestRound = 0;
  validLoss: number | null = null;
  /** Rounds taken from the checkpoint folder instead of grown (after a crash). */
  resumedTrees = 0;
  /** Whether the last fit shared its histograms with a helper thread. */
  threaded = false;

  constructor(
    params: Partial<BoostedParams> = {},
    readonly seed = 42,
    readonly threads = Math.max(1, Math.min(os.availableParallelism?.() ?? os.cpus().length, 8)),
  ) {
    this.params = { ...DEFAULT_BOOSTED_PARAMS, ...params };
  }

  async fit(x: FeatureMatrix, y: Uint8Array, options: FitOptions = {}): Promise<void> {
    const p = this.params;
    this.featureNames = [...x.names];
    const d = await prepareData(x, y, {
      maxBins: p.maxBins,
      classWeight: p.classWeight,
      validationFraction: p.validationFraction,
      earlyStopping: p.earlyStoppingRounds > 0 && p.validationFraction > 0,
      seed: this.seed,
      sampleWeight: options.sampleWeight,
      threads: this.threads,
    });
    // Helper threads pay off only when histograms are large. As many threads as asked, as the forest and LightGBM
    // (num_threads) take, whatever the load average: it counts jobs at nice 19 that yield their core to this one, and
    // a fit that judged cores busy from it trained on one thread beside LightGBM's two (bench/results/boosted.md).
    const threads = d.train.nRows >= 50_000 ? this.threads : 1;
    const r = await boost(d, p, this.seed, threads, options);
    this.trees = r.trees;
    this.bias = r.bias;
    this.roundsGrown = r.roundsGrown;
    this.bestRound = r.bestRound;
    this.validLoss = r.validLoss;
    this.resumedTrees = r.resumedRounds;
    this.threaded = r.threaded;
    const gains = new Float64Array(x.columns.length);
    for (const t of r.trees)
      for (let k = 0; k < t.feature.length; k++) if (t.feature[k] >= 0) gains[t.feature[k]] += t.gain[k];
    const total = gains.reduce((a, b) => a + b, 0) || 1;
    this.gainImportance = Array.from(gains, (g) => g / total);
    this.calibration = null;
    if (d.wPos !== d.wNeg) {
      if (d.valid && r.validScores) {
        const c = fitCalibration(r.validScores.map(sigmoid), d.valid.y, 'cross-fitted');
        this.calibration = { ...c, source: 'validation' };
      } else this.calibration = { kind: 'prior', shift: Math.log(d.wNeg / d.wPos), source: 'class weights' };
    }
    preparePrediction(this.trees);
    prepareBoosted(this.trees, this.featureNames.length);
  }

  /** Log-odds of the trees (before any calibration): bias + the sum of every tree's leaf value. */
  predictMargin(x: FeatureMatrix): Float64Array {
    const k = this.trees.length;
    if (k === 0) return new Float64Array(x.nRows).fill(this.bias);
    const out = boostedSums(this.trees, alignColumns(x, this.featureNames));
    // (sum / k) · k: the forest's predictTrees returned the mean leaf value, which this engine multiplied back; kept
    // so that published models score the same bits as before predict.ts.
    for (let i = 0; i < out.length; i++) out[i] = (out[i] / k) * k + this.bias;
    return out;
  }

  /** Calibrated probability of the positive class (see the note at the top). */
  predictProba(x: FeatureMatrix): Float64Array {
    const m = this.predictMargin(x);
    const c = this.calibration;
    // In place: the margins are this call's own array (no second array per call).
    if (c?.kind === 'prior') for (let i = 0; i < m.length; i++) m[i] = sigmoid(m[i] + c.shift);
    else for (let i = 0; i < m.length; i++) m[i] = sigmoid(m[i]);
    return c && c.kind !== 'prior' ? applyCalibration(c, m) : m;
  }

  /**
   * Each user's top reasons: the features whose splits on the user's paths raised the log-odds most (path
   * contributions, summed over trees), with that rise in log-odds.
   */
  explain(x: FeatureMatrix, topK = 3): { names: string[][]; values: Float64Array[] } {
    const e = explainTrees(this.trees, alignColumns(x, this.featureNames), topK);
    const k = this.trees.length;
    // explainTrees averages over trees (a forest's vote); a boosted model's contributions add up.
    for (const v of e.values) for (let i = 0; i < v.length; i++) v[i] *= k;
    return e;
  }

  /**
   * Every feature's path contribution for every row (row-major, rows × features) and the expected value they
   * start from (bias + every tree's root value): expected + Σ contributions = predictMargin, row by row.
   */
  contributions(x: FeatureMatrix): { expected: number; values: Float64Array } {
    const xa = alignColumns(x, this.featureNames);
    const f = xa.columns.length;
    const values = new Float64Array(x.nRows * f);
    let expected = this.bias;
    for (const t of this.trees) expected += t.value[0];
    if (this.trees.length === 0 || x.nRows === 0) return { expected, values };
    const rows = new Float32Array(x.nRows * f);
    toRowMajor(xa.columns, 0, x.nRows, rows);
    addContributions(packForest(this.trees), rows, f, x.nRows, values);
    return { expected, values };
  }

  featureImportances(): FeatureImportance[] {
    return this.featureNames
      .map((name, j) => ({ name, importance: this.gainImportance[j] ?? 0 }))
      .sort((a, b) => b.importance - a.importance);
  }

  serialize(): SerializedModel {
    const payload: BoostedPayload = {
      params: this.params,
      seed: this.seed,
      bias: this.bias,
      trees: this.trees.map(serializeTree),
      importances: this.gainImportance,
      bestRound: this.bestRound,
      roundsGrown: this.roundsGrown,
      validLoss: this.validLoss,
      calibration: this.calibration,
    };
    return { engine: 'boosted', formatVersion: BOOSTED_FORMAT_VERSION, featureNames: this.featureNames, payload };
  }

  static deserialize(s: SerializedModel): BoostedTrees {
    if (s.engine !== 'boosted') throw new Error(`not a boosted-trees model: ${s.engine}`);
    if (s.formatVersion !== BOOSTED_FORMAT_VERSION)
      throw new Error(
        `boosted format version ${s.formatVersion} is not supported (this build reads ${BOOSTED_FORMAT_VERSION})`,
      );
    const p = s.payload as BoostedPayload;
    const m = new BoostedTrees(p.params, p.seed);
    m.trees = p.trees.map(deserializeTree);
    m.bias = p.bias;
    m.featureNames = [...s.featureNames];
    m.gainImportance = p.importances;
    m.bestRound = p.bestRound;
    m.roundsGrown = p.roundsGrown;
    m.validLoss = p.validLoss;
    m.calibration = p.calibration;
    preparePrediction(m.trees);
    prepareBoosted(m.trees, m.featureNames.length);
    return m;
  }
}
