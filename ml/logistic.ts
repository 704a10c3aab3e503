/**
 * Logistic regression, the baseline the marketing literature starts from: standardised features, L2 penalty
 * (strength l2 = 1/C in scikit-learn's terms, intercept not penalised), class weights, fitted by Newton's method
 * (IRLS) with a Cholesky solve. Missing values are replaced by the training mean (0 after standardising).
 * Hand-written because the JS ML libraries on npm either lack weights/L2 or are unmaintained.
 *
 * Probabilities: unweighted, the fit is calibrated in the large (the intercept is not penalised, so Σp = Σy on
 * the training rows), but a linear model on skewed features is over-confident at the top, and class weights
 * shift every log-odds. So predictProba applies a calibration (ml/calibration) fitted on 3-fold cross-fitted
 * predictions of the same model: three more fits, cheap for this engine.
 */
import type { Classifier, FeatureImportance, FeatureMatrix, FitOptions, SerializedModel } from './classifier';
import type { LogisticParams } from '../pipelines/schema/model';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { applyCalibration, crossFittedScores, fitCalibration, type Calibration } from './calibration';
import { DEFAULT_CLASS_WEIGHT, DEFAULT_LOGISTIC_MAX_ROWS } from '../pipelines/schema/model';
import { selectLabels, selectRows } from './classifier';
import { mulberry32 } from './random';
import { majoritySample, oddsShift, type TrainingSample } from './downsample';

export const LOGISTIC_FORMAT_VERSION = 1;
const DEFAULTS: LogisticParams = {
  l2: 1,
  maxIter: 200,
  classWeight: DEFAULT_CLASS_WEIGHT,
  maxRows: DEFAULT_LOGISTIC_MAX_ROWS,
  downsampleMajority: 'auto',
};

function choleskySolve(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * d + j];
      for (let k = 0; k < j; k++) s -= l[i * d + k] * l[j * d + k];
      l[i * d + j] = i === j ? Math.sqrt(Math.max(s, 1e-12)) : s / l[j * d + j];
    }
  }
  const z = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * d + k] * z[k];
    z[i] = s / l[i * d + i];
  }
  const x = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let s = z[i];
    for (let k = i + 1; k < d; k++) s -= l[k * d + i] * x[k];
    x[i] = s / l[i * d + i];
  }
  return x;
}

export class LogisticRegression implements Classifier {
  readonly engine = 'logistic';
  readonly params: LogisticParams;
  featureNames: string[] = [];
  mean: number[] = [];
  scale: number[] = [];
  /** coef[0] is the intercept; coef[j + 1] belongs to standardised feature j. */
  coef: number[] = [];
  iterations = 0;
  /** Maps the linear model's probability to a calibrated one (null: models saved before it, and the parts). */
  calibration: Calibration | null = null;
  /** The majority-class downsampling of the last fit (null: every row); see ml/downsample. */
  trainingSample: TrainingSample | null = null;
  private uncalibratedPart = false;
  /** Where Newton starts (a cross-fit part starts from the whole fit's coefficients: a few steps instead of ~14). */
  private start: number[] | null = null;

  constructor(
    params: Partial<LogisticParams> = {},
    readonly seed = 42,
  ) {
    this.params = { ...DEFAULTS, ...params };
  }

  /**
   * Fits on every minority row and a seeded draw of the majority (model.logistic.downsampleMajority, as the
   * forest's: 'auto' = 100 majority rows per minority row above 1 M rows), the calibration fitted on the same rows
   * and its log-odds shifted back to the whole population (exact, ml/downsample). Below the threshold, or with
   * per-row sample weights (positional), every row as before.
   */
  async fit(x: FeatureMatrix, y: Uint8Array, options: FitOptions = {}): Promise<void> {
    const sample =
      options.sampleWeight || this.uncalibratedPart
        ? null
        : majoritySample(this.params.downsampleMajority, y, null, this.seed);
    this.trainingSample = sample && { ...sample, rows: sample.rows.length };
    if (!sample) return this.fitRows(x, y, options);
    await this.fitRows(selectRows(x, sample.rows), selectLabels(y, sample.rows), options);
    const c = this.calibration;
    if (c) this.calibration = { ...c, c: c.c + oddsShift(sample), oddsShift: oddsShift(sample) };
  }

  private standardised(x: FeatureMatrix): Float64Array[] {
    return x.columns.map((col, j) => {
      const out = new Float64Array(x.nRows);
      for (let i = 0; i < x.nRows; i++) out[i] = Number.isNaN(col[i]) ? 0 : (col[i] - this.mean[j]) / this.scale[j];
      return out;
    });
  }

  private async fitRows(x: FeatureMatrix, y: Uint8Array, options: FitOptions): Promise<void> {
    const n = x.nRows;
    this.featureNames = [...x.names];
    // Above maxRows the coefficients are fitted on a stratified sample whose rows stand for their class's rows
    // (weight N_c / n_c): an estimate of the same weighted loss at a fraction of the cost (issue 17: at 1 M events
    // the baseline took longer than the forest). The calibration below still sees every row.
    const sample = stratifiedSample(y, this.params.maxRows ?? Infinity, 0);
    const xs = sample ? selectRows(x, sample.rows) : x;
    const ys = sample ? selectLabels(y, sample.rows) : y;
    this.mean = x.columns.map((c) => {
      let s = 0,
        k = 0;
      for (let i = 0; i < n; i++) {
        if (!Number.isNaN(c[i])) {
          s += c[i];
          k++;
        }
      }
      return k ? s / k : 0;
    });
    this.scale = x.columns.map((c, j) => {
      let s = 0,
        k = 0;
      for (let i = 0; i < n; i++) {
        if (!Number.isNaN(c[i])) {
          s += (c[i] - this.mean[j]) ** 2;
          k++;
        }
      }
      const sd = k ? Math.sqrt(s / k) : 0;
      return sd > 1e-12 ? sd : 1;
    });
    let nPos = 0;
    for (let i = 0; i < n; i++) nPos += y[i];
    // Class weights from the whole table's counts, so a sample weighs its classes as the whole table would.
    const cw = (c: number) => (this.params.classWeight === 'balanced' ? n / (2 * (c === 1 ? nPos : n - nPos) || 1) : 1);
    const w = new Float64Array(xs.nRows);
    for (let k = 0; k < xs.nRows; k++) {
      const i = sample ? sample.rows[k] : k;
      const stand = sample ? sample.expansion[ys[k]] : 1;
      w[k] = cw(ys[k]) * stand * (options.sampleWeight ? options.sampleWeight[i] : 1);
    }
    this.coef = Array.from(await this.newton(this.standardised(xs), ys, w, options));
    this.calibration = null;
    if (!this.uncalibratedPart) this.calibration = await this.fitCalibrationOn(x, y, options.signal);
  }

  /** Newton's method (IRLS) on standardised columns `z` with row weights `w`: the coefficients, intercept first. */
  private async newton(z: Float64Array[], y: Uint8Array, w: Float64Array, options: FitOptions) {
    const n = y.length;
    const f = z.length;
    const d = f + 1;
    const beta = new Float64Array(d);
    const eta = new Float64Array(n);
    if (this.start?.length === d) {
      beta.set(this.start);
      for (let i = 0; i < n; i++) {
        let s = beta[0];
        for (let j = 0; j < f; j++) s += beta[j + 1] * z[j][i];
        eta[i] = s;
      }
    }
    for (let it = 0; it < this.params.maxIter; it++) {
      if (options.signal?.aborted) throw new Error('training cancelled');
      const grad = new Float64Array(d);
      const hess = new Float64Array(d * d);
      const row = new Float64Array(d);
      for (let i = 0; i < n; i++) {
        row[0] = 1;
        for (let j = 0; j < f; j++) row[j + 1] = z[j][i];
        const p = 1 / (1 + Math.exp(-eta[i]));
        const g = w[i] * (p - y[i]);
        const h = w[i] * Math.max(p * (1 - p), 1e-10);
        for (let a = 0; a < d; a++) {
          grad[a] += g * row[a];
          const ha = h * row[a];
          for (let b = 0; b <= a; b++) hess[a * d + b] += ha * row[b];
        }
      }
      for (let a = 1; a < d; a++) {
        grad[a] += this.params.l2 * beta[a];
        hess[a * d + a] += this.params.l2;
      }
      for (let a = 0; a < d; a++) for (let b = a + 1; b < d; b++) hess[a * d + b] = hess[b * d + a];
      const step = choleskySolve(hess, grad, d);
      let maxStep = 0;
      for (let a = 0; a < d; a++) {
        beta[a] -= step[a];
        maxStep = Math.max(maxStep, Math.abs(step[a]));
      }
      for (let i = 0; i < n; i++) {
        let s = beta[0];
        for (let j = 0; j < f; j++) s += beta[j + 1] * z[j][i];
        eta[i] = s;
      }
      this.iterations = it + 1;
      options.onProgress?.({ done: it + 1, total: this.params.maxIter, unit: 'iterations' });
      if (maxStep < 1e-7) break;
      if (it % 2 === 1) await nextTurn();
    }
    return beta;
  }

  /** The calibration, fitted on cross-fitted predictions (see the note at the top). */
  private async fitCalibrationOn(x: FeatureMatrix, y: Uint8Array, signal?: AbortSignal): Promise<Calibration> {
    const part = () => {
      // The parts predict with their weighted fit: the calibration is fitted on those scores.
      const m = new LogisticRegression(this.params, this.seed);
      m.uncalibratedPart = true;
      m.start = this.coef;
      return m;
    };
    const oof = await crossFittedScores(part, x, y, 3, 0, signal);
    return fitCalibration(oof, y, 'cross-fitted');
  }

  /** Calibrated probability of the positive class. */
  predictProba(x: FeatureMatrix): Float64Array {
    return applyCalibration(this.calibration, this.predictUncalibrated(x));
  }

  /** σ(linear predictor): the fitted logistic model itself. */
  predictUncalibrated(x: FeatureMatrix): Float64Array {
    const pos = new Map(x.names.map((nm, j) => [nm, j]));
    const cols = this.featureNames.map((nm) => {
      const j = pos.get(nm);
      if (j === undefined) throw new Error(`the data lacks the feature "${nm}" the model was trained with`);
      return x.columns[j];
    });
    const out = new Float64Array(x.nRows);
    for (let i = 0; i < x.nRows; i++) {
      let s = this.coef[0];
      for (let j = 0; j < cols.length; j++) {
        const v = cols[j][i];
        if (!Number.isNaN(v)) s += this.coef[j + 1] * ((v - this.mean[j]) / this.scale[j]);
      }
      out[i] = 1 / (1 + Math.exp(-s));
    }
    return out;
  }

  /** Top features pushing each row's score up: coefficient × standardised value. */
  explain(x: FeatureMatrix, topK = 3): { names: string[][]; values: Float64Array[] } {
    const pos = new Map(x.names.map((nm, j) => [nm, j]));
    const names: string[][] = [];
    const values: Float64Array[] = [];
    for (let i = 0; i < x.nRows; i++) {
      const c = this.featureNames.map((nm, j) => {
        const v = x.columns[pos.get(nm)!][i];
        return Number.isNaN(v) ? 0 : this.coef[j + 1] * ((v - this.mean[j]) / this.scale[j]);
      });
      const top = c
        .map((v, j) => [v, j] as const)
        .filter(([v]) => v > 0)
        .sort((a, b) => b[0] - a[0] || a[1] - b[1])
        .slice(0, topK);
      names.push(top.map(([, j]) => this.featureNames[j]));
      values.push(Float64Array.from(top.map(([v]) => v)));
    }
    return { names, values };
  }

  featureImportances(): FeatureImportance[] {
    const total = this.coef.slice(1).reduce((a, b) => a + Math.abs(b), 0) || 1;
    return this.featureNames
      .map((name, j) => ({ name, importance: Math.abs(this.coef[j + 1]) / total }))
      .sort((a, b) => b.importance - a.importance);
  }

  serialize(): SerializedModel {
    return {
      engine: 'logistic',
      formatVersion: LOGISTIC_FORMAT_VERSION,
      featureNames: this.featureNames,
      payload: {
        params: this.params,
        mean: this.mean,
        scale: this.scale,
        coef: this.coef,
        calibration: this.calibration,
      },
    };
  }

  static deserialize(s: SerializedModel): LogisticRegression {
    if (s.formatVersion !== LOGISTIC_FORMAT_VERSION)
      throw new Error(`logistic format version ${s.formatVersion} is not supported`);
    const p = s.payload as {
      params: LogisticParams;
      mean: number[];
      scale: number[];
      coef: number[];
      calibration?: Calibration | null;
    };
    const m = new LogisticRegression({ ...p.params, downsampleMajority: p.params.downsampleMajority ?? null });
    m.featureNames = [...s.featureNames];
    m.mean = p.mean;
    m.scale = p.scale;
    m.coef = p.coef;
    m.calibration = p.calibration ?? null;
    return m;
  }
}

/**
 * At most `maxRows` row indices (ascending), stratified: each class keeps its share, except that a rare class
 * keeps up to half the rows (all of it when it has fewer), so a 0.2 % positive rate still gives the fit its
 * positives. `expansion[c]` = rows of class c / rows of it kept. Null when every row fits. Deterministic for a seed
 * (selection sampling: each row is kept with probability still-needed / still-left).
 */
export function stratifiedSample(
  y: Uint8Array,
  maxRows: number,
  seed: number,
): { rows: Uint32Array; expansion: [number, number] } | null {
  const n = y.length;
  if (n <= maxRows) return null;
  let nPos = 0;
  for (let i = 0; i < n; i++) nPos += y[i];
  const counts = [n - nPos, nPos];
  const minority = nPos <= n - nPos ? 1 : 0;
  const keep = [0, 0];
  keep[minority] = Math.min(counts[minority], Math.max(Math.round((maxRows * counts[minority]) / n), maxRows >> 1));
  keep[1 - minority] = Math.min(counts[1 - minority], maxRows - keep[minority]);
  const rng = mulberry32(seed);
  const left = [...counts];
  const needed = [...keep];
  const rows = new Uint32Array(keep[0] + keep[1]);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const c = y[i];
    if (rng() * left[c] < needed[c]) {
      rows[k++] = i;
      needed[c]--;
    }
    left[c]--;
  }
  return { rows, expansion: [keep[0] ? counts[0] / keep[0] : 1, keep[1] ? counts[1] / keep[1] : 1] };
}
