/**
 * Binary-classification metrics, implemented once and used everywhere (CV, holdout, champion gate, report,
 * `funnelcast evaluate`). Definitions follow scikit-learn so numbers can be compared with it (the unit tests
 * check fixed inputs against values scikit-learn computed). Hand-written: no maintained JS library covers
 * ROC/PR AUC with ties, lift and calibration with sklearn's conventions.
 */

type Vec = ArrayLike<number>;

export {
  calibrationBins,
  expectedCalibrationError,
  debiasedCalibrationError,
  squaredCalibrationErrorUnbiased,
  positivesInterval,
  chanceCalibrationError,
  type CalibrationBin,
} from './calibration-metrics';
import { argsortScores } from './argsort';
import {
  debiasedCalibrationError,
  expectedCalibrationError,
  positivesInterval,
  type CalibrationBin,
} from './calibration-metrics';

/** Indices sorted by descending score (stable on index). */
const orderDesc = (p: Vec): Uint32Array => argsortScores(p, true);

/** Distinct-threshold points of the ranking: cumulative true and false positives after each tie group. */
function thresholdPoints(y: Vec, p: Vec) {
  const idx = orderDesc(p);
  const tps: number[] = [];
  const fps: number[] = [];
  const thr: number[] = [];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k];
    if (y[i] === 1) tp++;
    else fp++;
    if (k === idx.length - 1 || p[idx[k + 1]] !== p[i]) {
      tps.push(tp);
      fps.push(fp);
      thr.push(p[i]);
    }
  }
  return { tps, fps, thr, P: tp, N: fp };
}

/** Area under the ROC curve (trapezoidal over tie groups, as sklearn's roc_auc_score). */
export function rocAuc(y: Vec, p: Vec): number {
  const { tps, fps, P, N } = thresholdPoints(y, p);
  if (P === 0 || N === 0) return NaN;
  let area = 0;
  let prevT = 0;
  let prevF = 0;
  for (let k = 0; k < tps.length; k++) {
    area += ((fps[k] - prevF) * (tps[k] + prevT)) / 2;
    prevT = tps[k];
    prevF = fps[k];
  }
  return area / (P * N);
}

/** Average precision (sklearn's average_precision_score: Σ (R_k − R_{k−1}) P_k). */
export function prAuc(y: Vec, p: Vec): number {
  const { tps, fps, P } = thresholdPoints(y, p);
  if (P === 0) return NaN;
  let ap = 0;
  let prevR = 0;
  for (let k = 0; k < tps.length; k++) {
    const r = tps[k] / P;
    ap += (r - prevR) * (tps[k] / (tps[k] + fps[k]));
    prevR = r;
  }
  return ap;
}

export function logLoss(y: Vec, p: Vec, eps = 1e-15): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) {
    const q = Math.min(1 - eps, Math.max(eps, p[i]));
    s -= y[i] === 1 ? Math.log(q) : Math.log(1 - q);
  }
  return s / y.length;
}

export function brier(y: Vec, p: Vec): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += (p[i] - y[i]) ** 2;
  return s / y.length;
}

export interface Confusion {
  threshold: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
}

export function confusionAt(y: Vec, p: Vec, threshold: number): Confusion {
  let tp = 0,
    fp = 0,
    tn = 0,
    fn = 0;
  for (let i = 0; i < y.length; i++) {
    const pred = p[i] >= threshold;
    if (pred && y[i] === 1) tp++;
    else if (pred) fp++;
    else if (y[i] === 1) fn++;
    else tn++;
  }
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  return {
    threshold,
    tp,
    fp,
    tn,
    fn,
    accuracy: (tp + tn) / y.length,
    precision,
    recall,
    f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0,
  };
}

/** The threshold (one of the scores) that maximises F1. */
export function bestF1Threshold(y: Vec, p: Vec): { threshold: number; f1: number } {
  const { tps, fps, thr, P } = thresholdPoints(y, p);
  let best = { threshold: 0.5, f1: 0 };
  for (let k = 0; k < tps.length; k++) {
    const precision = tps[k] / (tps[k] + fps[k]);
    const recall = P ? tps[k] / P : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    if (f1 > best.f1) best = { threshold: thr[k], f1 };
  }
  return best;
}

export interface LiftRow {
  decile: number;
  users: number;
  positives: number;
  rate: number;
  lift: number;
  cumulativeGain: number;
}

/** Lift and cumulative gains by score decile (decile 1 = the top 10 % of scores). */
export function liftByDecile(y: Vec, p: Vec): LiftRow[] {
  const idx = orderDesc(p);
  const n = idx.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += y[i];
  const base = total / n;
  const rows: LiftRow[] = [];
  let cum = 0;
  for (let d = 0; d < 10; d++) {
    const a = Math.floor((d * n) / 10);
    const b = Math.floor(((d + 1) * n) / 10);
    let pos = 0;
    for (let k = a; k < b; k++) pos += y[idx[k]];
    cum += pos;
    const users = b - a;
    const rate = users ? pos / users : 0;
    rows.push({
      decile: d + 1,
      users,
      positives: pos,
      rate,
      lift: base ? rate / base : 0,
      cumulativeGain: total ? cum / total : 0,
    });
  }
  return rows;
}

/** Log loss of predicting the observed base rate for everyone: the bar any probability model must clear. */
export function baseRateLogLoss(y: Vec): number {
  let pos = 0;
  for (let i = 0; i < y.length; i++) pos += y[i];
  const r = pos / y.length;
  return r <= 0 || r >= 1 ? 0 : -(r * Math.log(r) + (1 - r) * Math.log(1 - r));
}

/** ROC curve points, down-sampled to at most maxPoints (JSON-safe, for the report). */
export function rocCurve(y: Vec, p: Vec, maxPoints = 200): { fpr: number[]; tpr: number[]; thresholds: number[] } {
  const { tps, fps, thr, P, N } = thresholdPoints(y, p);
  const fpr = [0, ...fps.map((f) => (N ? f / N : 0))];
  const tpr = [0, ...tps.map((t) => (P ? t / P : 0))];
  const thresholds = [Infinity, ...thr];
  const keep = downsample(fpr.length, maxPoints);
  return {
    fpr: keep.map((i) => fpr[i]),
    tpr: keep.map((i) => tpr[i]),
    thresholds: keep.map((i) => (Number.isFinite(thresholds[i]) ? thresholds[i] : 1)),
  };
}

/** Precision–recall curve points, down-sampled (JSON-safe). */
export function prCurve(
  y: Vec,
  p: Vec,
  maxPoints = 200,
): { recall: number[]; precision: number[]; thresholds: number[] } {
  const { tps, fps, thr, P } = thresholdPoints(y, p);
  const recall = tps.map((t) => (P ? t / P : 0));
  const precision = tps.map((t, k) => t / (t + fps[k]));
  const keep = downsample(recall.length, maxPoints);
  return {
    recall: keep.map((i) => recall[i]),
    precision: keep.map((i) => precision[i]),
    thresholds: keep.map((i) => thr[i]),
  };
}

function downsample(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const out = new Set<number>();
  for (let k = 0; k < max; k++) out.add(Math.round((k * (n - 1)) / (max - 1)));
  return [...out];
}

export interface BinaryMetrics {
  n: number;
  positives: number;
  roc_auc: number;
  pr_auc: number;
  log_loss: number;
  /** Log loss of predicting the base rate of these rows for everyone (log_loss must be below it). */
  base_rate_log_loss: number;
  brier: number;
  /** Expected calibration error over 10 equal-width bins (plug-in: includes the sampling noise, see below). */
  ece: number;
  /** Debiased ℓ2 calibration error (Kumar et al. 2019, 10 equal-mass bins; ≥ ECE): what the ≤ 0.02 target is checked on. */
  ece_debiased: number;
  /** Σ predicted probabilities ÷ observed positives: 1 when the expected count is right. */
  predicted_to_observed: number;
  /** 90 % range of Σp ÷ positives that outcome noise alone gives a calibrated model on these rows. */
  predicted_to_observed_low: number;
  predicted_to_observed_high: number;
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  threshold: number;
  best_f1: number;
  best_f1_threshold: number;
  top_decile_lift: number;
}

function sumOf(p: Vec): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) s += p[i];
  return s;
}

/** All scalar metrics at once (curves and tables come from their own functions). */
export function evaluateBinary(y: Vec, p: Vec, opts: { threshold?: number } = {}): BinaryMetrics {
  const threshold = opts.threshold ?? 0.5;
  const c = confusionAt(y, p, threshold);
  const best = bestF1Threshold(y, p);
  let positives = 0;
  for (let i = 0; i < y.length; i++) positives += y[i];
  const chance = positivesInterval(p);
  return {
    n: y.length,
    positives,
    roc_auc: rocAuc(y, p),
    pr_auc: prAuc(y, p),
    log_loss: logLoss(y, p),
    base_rate_log_loss: baseRateLogLoss(y),
    brier: brier(y, p),
    ece: expectedCalibrationError(y, p),
    ece_debiased: debiasedCalibrationError(y, p),
    predicted_to_observed: positives ? sumOf(p) / positives : NaN,
    predicted_to_observed_low: chance.high ? chance.expected / chance.high : NaN,
    predicted_to_observed_high: chance.low ? chance.expected / chance.low : NaN,
    accuracy: c.accuracy,
    precision: c.precision,
    recall: c.recall,
    f1: c.f1,
    threshold,
    best_f1: best.f1,
    best_f1_threshold: best.threshold,
    top_decile_lift: liftByDecile(y, p)[0]?.lift ?? 0,
  };
}

/** Mean and sample standard deviation of each metric over folds. */
export function aggregate(folds: Record<string, number>[]): {
  mean: Record<string, number>;
  std: Record<string, number>;
} {
  const mean: Record<string, number> = {};
  const std: Record<string, number> = {};
  for (const k of Object.keys(folds[0] ?? {})) {
    const v = folds.map((f) => f[k]).filter((x) => Number.isFinite(x));
    if (v.length === 0) continue;
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    mean[k] = m;
    std[k] = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)) : 0;
  }
  return { mean, std };
}

export interface LiftAcrossFolds {
  decile: number;
  lift: number;
  liftStd: number;
  cumulativeGain: number;
  cumulativeGainStd: number;
}

/** Lift and cumulative gains per decile over folds: mean and sample std of each fold's value at that decile. */
export function aggregateLift(folds: LiftRow[][]): LiftAcrossFolds[] {
  const stats = (v: number[]) => {
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)) : 0;
    return [m, sd];
  };
  return Array.from({ length: 10 }, (_, d) => {
    const rows = folds.map((f) => f[d]).filter((r) => r && r.users > 0);
    if (rows.length === 0) return { decile: d + 1, lift: 0, liftStd: 0, cumulativeGain: 0, cumulativeGainStd: 0 };
    const [lift, liftStd] = stats(rows.map((r) => r.lift));
    const [cumulativeGain, cumulativeGainStd] = stats(rows.map((r) => r.cumulativeGain));
    return { decile: d + 1, lift, liftStd, cumulativeGain, cumulativeGainStd };
  });
}

export interface CalibrationAcrossFolds extends CalibrationBin {
  /** Sample std over the folds that have users in this bin of their observed rate (0 when only one has). */
  fractionPositiveStd: number;
  folds: number;
}

/**
 * Reliability bins over folds: each bin pools the folds' users (count-weighted mean prediction and observed
 * rate, as if the out-of-fold predictions were one set), with the spread of the per-fold rates beside it.
 */
export function aggregateCalibration(folds: CalibrationBin[][]): CalibrationAcrossFolds[] {
  const byStart = new Map<number, CalibrationBin[]>();
  for (const f of folds) for (const b of f) byStart.set(b.binStart, [...(byStart.get(b.binStart) ?? []), b]);
  return [...byStart.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([, bins]) => {
      const count = bins.reduce((a, b) => a + b.count, 0);
      const rates = bins.map((b) => b.fractionPositive);
      const m = rates.reduce((a, b) => a + b, 0) / rates.length;
      return {
        binStart: bins[0].binStart,
        binEnd: bins[0].binEnd,
        meanPredicted: bins.reduce((a, b) => a + b.meanPredicted * b.count, 0) / count,
        fractionPositive: bins.reduce((a, b) => a + b.fractionPositive * b.count, 0) / count,
        count,
        fractionPositiveStd:
          rates.length > 1 ? Math.sqrt(rates.reduce((a, b) => a + (b - m) ** 2, 0) / (rates.length - 1)) : 0,
        folds: bins.length,
      };
    });
}

/** Which direction is better for a metric (for the champion gate). */
export const higherIsBetter = (metric: string) => !['log_loss', 'brier'].includes(metric);
