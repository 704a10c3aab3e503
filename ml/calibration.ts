/**
 * Turning scores into probabilities that mean what they say. Every engine publishes calibrated probabilities
 * (the expected conversions of a campaign are their sum), whatever weighting or sampling it trained with:
 *
 * - Platt scaling in its beta-calibration form, p' = σ(a·ln p − b·ln(1 − p) + c), fitted on out-of-fold
 *   predictions (the forest's out-of-bag votes; internal 3-fold cross-fitted predictions for engines without
 *   them). Why this and not isotonic: three parameters are estimated well from a few hundred positives (CDNOW's
 *   sample has ~470 repeat buyers) where isotonic steps overfit; the map is increasing, so rankings, ROC AUC and
 *   lift are unchanged; and it fixes the forest's pull toward the middle, a shifted base rate (class weights)
 *   and a linear model's over-confidence at the top alike.
 * - Prior correction, odds × w0/w1 (King & Zeng 2001), only where the weighting is the sole distortion and no
 *   out-of-fold predictions exist (the LSTM's class weights).
 */
import type { Classifier, FeatureMatrix } from './classifier';
import { selectLabels, selectRows } from './classifier';
import { stratifiedKFold } from './cv';

/**
 * p' = σ(a·ln p − b·ln(1 − p) + c), beta calibration (Kull, Silva Filho & Flach 2017): Platt scaling on the
 * log-odds is its special case a = b. The two slopes let the top and the bottom of the scale be corrected
 * differently (a linear model on skewed features is over-confident at the top only). Fitted on out-of-fold
 * predictions; a and b are kept ≥ 0 so the map never reverses the ranking.
 */
export interface Calibration {
  kind: 'beta';
  a: number;
  b: number;
  c: number;
  /** How many out-of-fold predictions it was fitted on, and where they came from. */
  rows: number;
  source: 'out-of-bag' | 'cross-fitted';
  /**
   * When the model trained on a downsampled majority class (ml/downsample): the log-odds shift already added to
   * `c`, so the probabilities are the whole population's. Recorded for the model card; absent otherwise.
   */
  oddsShift?: number;
}

/** Scores are clipped here so a unanimous 0 or 1 vote maps to a finite, very confident probability. */
const EPS = 1e-6;
const clip = (p: number) => Math.min(1 - EPS, Math.max(EPS, p));
const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

export function calibrate(c: Pick<Calibration, 'a' | 'b' | 'c'>, p: number): number {
  const q = clip(p);
  return sigmoid(c.a * Math.log(q) - c.b * Math.log(1 - q) + c.c);
}

export function applyCalibration(
  c: Pick<Calibration, 'a' | 'b' | 'c'> | null | undefined,
  p: Float64Array,
): Float64Array {
  if (!c) return p;
  return p.map((v) => calibrate(c, v));
}

/**
 * Logistic regression of the smoothed targets on the given columns plus an intercept, by Newton's method with
 * step halving (tiny design: 2 or 3 columns). Returns the coefficients, intercept last.
 */
function newtonLogistic(cols: number[][], t: number[]): number[] {
  const n = t.length;
  const d = cols.length + 1;
  // Row i is [cols[0][i], …, 1]. The sums run in the same order as a fold over that row would, without building
  // it: allocating a row per row per pass made a 200,000-row fit take 20 s of blocked event loop (issue 17).
  const dot = (i: number, w: number[]) => {
    let f = 0;
    for (let j = 0; j < d - 1; j++) f += cols[j][i] * w[j];
    return f + 1 * w[d - 1];
  };
  const loss = (w: number[]) => {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const f = dot(i, w);
      // log(1 + e^f) − t·f, written to stay finite for large |f|.
      s += (f > 0 ? f + Math.log1p(Math.exp(-f)) : Math.log1p(Math.exp(f))) - t[i] * f;
    }
    return s;
  };
  const r = new Float64Array(d);
  let w = Array.from({ length: d }, (_, j) => (j < d - 1 ? 1 / (d - 1) : 0));
  let current = loss(w);
  for (let it = 0; it < 100; it++) {
    const g = new Array<number>(d).fill(0);
    const h = Array.from({ length: d }, (_, j) => Array.from({ length: d }, (_, k) => (j === k ? 1e-9 : 0)));
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d - 1; j++) r[j] = cols[j][i];
      r[d - 1] = 1;
      const p = sigmoid(dot(i, w));
      const q = p * (1 - p);
      for (let j = 0; j < d; j++) {
        g[j] += (p - t[i]) * r[j];
        for (let k = 0; k < d; k++) h[j][k] += q * r[j] * r[k];
      }
    }
    const step = solve(h, g);
    if (!step) break;
    let scale = 1;
    let next = loss(w.map((v, j) => v - scale * step[j]));
    while (next > current && scale > 1e-6) {
      scale /= 2;
      next = loss(w.map((v, j) => v - scale * step[j]));
    }
    if (next > current) break;
    w = w.map((v, j) => v - scale * step[j]);
    const improved = current - next;
    current = next;
    if (step.reduce((a, v) => a + Math.abs(scale * v), 0) < 1e-9 || improved < 1e-12) break;
  }
  return w;
}

/** Gaussian elimination with partial pivoting (d ≤ 3); null when singular. */
function solve(a: number[][], b: number[]): number[] | null {
  const d = b.length;
  const m = a.map((r, i) => [...r, b[i]]);
  for (let c = 0; c < d; c++) {
    let piv = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(m[r][c]) > Math.abs(m[piv][c])) piv = r;
    if (Math.abs(m[piv][c]) < 1e-15) return null;
    [m[c], m[piv]] = [m[piv], m[c]];
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= d; k++) m[r][k] -= f * m[c][k];
    }
  }
  return m.map((r, i) => r[d] / r[i]);
}

/**
 * Fits the calibration on out-of-fold scores, with Platt's smoothed targets ((N₊+1)/(N₊+2) and 1/(N₋+2), as
 * scikit-learn's CalibratedClassifierCV) so a fold without errors cannot push a slope to infinity. Rows whose
 * score is NaN (never out of bag) are skipped. When a slope comes out negative (too few rows at one end), it
 * falls back to Platt scaling on the log-odds (a = b).
 */
export function fitCalibration(
  scores: ArrayLike<number>,
  y: ArrayLike<number>,
  source: Calibration['source'],
): Calibration {
  const lp: number[] = [];
  const l1p: number[] = [];
  const lab: number[] = [];
  for (let i = 0; i < y.length; i++) {
    if (Number.isNaN(scores[i])) continue;
    const q = clip(scores[i]);
    lp.push(Math.log(q));
    l1p.push(-Math.log(1 - q));
    lab.push(y[i]);
  }
  const n = lab.length;
  const nPos = lab.reduce((s, v) => s + v, 0);
  if (nPos === 0 || nPos === n) return { kind: 'beta', a: 1, b: 1, c: 0, rows: n, source };
  const hi = (nPos + 1) / (nPos + 2);
  const lo = 1 / (n - nPos + 2);
  const t = lab.map((v) => (v === 1 ? hi : lo));
  const [a, b, c] = newtonLogistic([lp, l1p], t);
  if (a >= 0 && b >= 0) return { kind: 'beta', a, b, c, rows: n, source };
  const [s, c2] = newtonLogistic([lp.map((v, i) => v + l1p[i])], t);
  return { kind: 'beta', a: Math.max(s, 0), b: Math.max(s, 0), c: c2, rows: n, source };
}

/**
 * Out-of-fold predictions of a model: k models, each trained on k − 1 folds and predicting the last. Used to fit
 * the calibration of engines that have no out-of-bag votes (k extra fits: cheap for logistic regression).
 */
export async function crossFittedScores(
  create: () => Classifier,
  x: FeatureMatrix,
  y: Uint8Array,
  k: number,
  seed: number,
  signal?: AbortSignal,
): Promise<Float64Array> {
  const out = new Float64Array(x.nRows).fill(NaN);
  let nPos = 0;
  for (let i = 0; i < y.length; i++) nPos += y[i];
  // Too few rows of a class to cut into k stratified folds: no out-of-fold scores (the caller keeps identity).
  if (Math.min(nPos, y.length - nPos) < k) return out;
  for (const s of stratifiedKFold(y, k, seed)) {
    if (signal?.aborted) throw new Error('training cancelled');
    const m = create();
    await m.fit(selectRows(x, s.train), selectLabels(y, s.train), { signal });
    const p = m.predictProba(selectRows(x, s.test));
    s.test.forEach((row, j) => (out[row] = p[j]));
  }
  return out;
}

/** Removes the class weighting a score was trained with: odds × w0/w1 (exact for a leaf or an intercept). */
export function priorCorrection(p: number, w0: number, w1: number): number {
  if (p <= 0 || p >= 1 || w0 === w1) return p;
  const odds = (p / (1 - p)) * (w0 / w1);
  return odds / (1 + odds);
}
