/**
 * Two checks that say when a comparison with the champion means less than it seems:
 * - the ROC AUC difference between challenger and champion on the same held-out users, with its 95 % confidence
 *   interval by DeLong's method for paired (correlated) AUCs (DeLong, DeLong & Clarke-Pearson 1988; the midrank
 *   form of Sun & Xu 2014, O(n log n), deterministic: no resampling, no seed): when the interval contains 0 the
 *   gate's decision rests on noise, and the run says so;
 * - the label rate at the training cutoff against the champion's: a rate that moved by half or more means the two
 *   models were measured on different populations (or the label or data changed), so their metrics compare poorly.
 */
import { MIN_POSITIVES, type SanityWarning } from './sanity';

type Vec = ArrayLike<number>;

/** 1-based midranks of `x` (ties share the mean of their ranks). */
function midranks(x: Vec): Float64Array {
  const n = x.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => x[a] - x[b]);
  const r = new Float64Array(n);
  for (let i = 0; i < n;) {
    let j = i;
    while (j < n && x[order[j]] === x[order[i]]) j++;
    for (let k = i; k < j; k++) r[order[k]] = (i + j + 1) / 2;
    i = j;
  }
  return r;
}

/** DeLong's structural components of one model: its AUC and the placement values of positives and negatives. */
function components(pos: Vec, neg: Vec): { auc: number; v10: Float64Array; v01: Float64Array } {
  const m = pos.length;
  const n = neg.length;
  const all = new Float64Array(m + n);
  all.set(Array.from(pos), 0);
  all.set(Array.from(neg), m);
  const r = midranks(all);
  const rx = midranks(pos);
  const ry = midranks(neg);
  const v10 = new Float64Array(m);
  const v01 = new Float64Array(n);
  for (let i = 0; i < m; i++) v10[i] = (r[i] - rx[i]) / n;
  for (let j = 0; j < n; j++) v01[j] = 1 - (r[m + j] - ry[j]) / m;
  return { auc: v10.reduce((s, v) => s + v, 0) / m, v10, v01 };
}

const covariance = (a: Float64Array, b: Float64Array) => {
  const ma = a.reduce((s, v) => s + v, 0) / a.length;
  const mb = b.reduce((s, v) => s + v, 0) / b.length;
  let c = 0;
  for (let i = 0; i < a.length; i++) c += (a[i] - ma) * (b[i] - mb);
  return c / (a.length - 1);
};

export interface AucDifference {
  /** AUC(a) − AUC(b) on the same rows. */
  difference: number;
  low: number;
  high: number;
  positives: number;
  negatives: number;
}

/** The paired difference of two models' ROC AUCs on the same labelled rows, with DeLong's 95 % interval. */
export function delongDifference(y: Vec, a: Vec, b: Vec): AucDifference | null {
  const ia: number[] = [];
  const ib: number[] = [];
  for (let i = 0; i < y.length; i++) (y[i] === 1 ? ia : ib).push(i);
  if (ia.length < 2 || ib.length < 2) return null;
  const pick = (s: Vec, idx: number[]) => Float64Array.from(idx, (i) => s[i]);
  const A = components(pick(a, ia), pick(a, ib));
  const B = components(pick(b, ia), pick(b, ib));
  const variance =
    (covariance(A.v10, A.v10) + covariance(B.v10, B.v10) - 2 * covariance(A.v10, B.v10)) / ia.length +
    (covariance(A.v01, A.v01) + covariance(B.v01, B.v01) - 2 * covariance(A.v01, B.v01)) / ib.length;
  const difference = A.auc - B.auc;
  const half = 1.959964 * Math.sqrt(Math.max(variance, 0));
  return { difference, low: difference - half, high: difference + half, positives: ia.length, negatives: ib.length };
}

const f3 = (x: number) => (x >= 0 ? '+' : '') + x.toFixed(3);

/** A warning when the challenger–champion AUC difference is within its confidence interval of zero. */
export function withinNoiseWarning(d: AucDifference | null, champion: string): SanityWarning | null {
  if (!d || (d.low > 0 && d.high > 0) || (d.low < 0 && d.high < 0)) return null;
  return {
    kind: 'auc-difference-within-noise',
    refuses: false,
    engine: champion,
    metric: 'roc_auc',
    model: d.difference,
    baseline: 0,
    message:
      `the ROC AUC difference from champion ${champion} on the same ${d.positives + d.negatives} held-out users ` +
      `is ${f3(d.difference)}, 95% CI [${f3(d.low)}, ${f3(d.high)}] (DeLong): it includes 0, so which model is ` +
      `better is not established on these rows (${d.positives} positives)`,
  };
}

/** Label rates that differ by this factor or more (either way) are flagged. */
export const LABEL_RATE_FACTOR = 1.5;

export function labelRateWarning(
  now: { rate: number; cutoff: string },
  champion: { version: string; rate: number | null; cutoff: string | null },
): SanityWarning | null {
  const then = champion.rate;
  if (then == null || !(then > 0) || !(now.rate > 0)) return null;
  const factor = now.rate / then;
  if (factor < LABEL_RATE_FACTOR && factor > 1 / LABEL_RATE_FACTOR) return null;
  const pc = (x: number) => `${(x * 100).toFixed(1)}%`;
  return {
    kind: 'label-rate-shift',
    refuses: false,
    engine: champion.version,
    metric: 'label_rate',
    model: now.rate,
    baseline: then,
    message:
      `the label rate is ${pc(now.rate)} at training cutoff ${now.cutoff.slice(0, 10)}, ${pc(then)} for champion ` +
      `${champion.version}${champion.cutoff ? ` (trained at ${champion.cutoff.slice(0, 10)})` : ''}: ` +
      `×${factor.toFixed(2)}; the two were measured on different populations (check the data and the label)`,
  };
}

/** One model's ROC AUC with DeLong's 95 % interval (its variance from the placement values). */
export function delongInterval(y: Vec, s: Vec): { auc: number; low: number; high: number; positives: number } | null {
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < y.length; i++) (y[i] === 1 ? pos : neg).push(s[i]);
  if (pos.length < 2 || neg.length < 2) return null;
  const c = components(pos, neg);
  const variance = covariance(c.v10, c.v10) / pos.length + covariance(c.v01, c.v01) / neg.length;
  const half = 1.959964 * Math.sqrt(Math.max(variance, 0));
  return { auc: c.auc, low: Math.max(0, c.auc - half), high: Math.min(1, c.auc + half), positives: pos.length };
}

/**
 * A holdout with fewer than MIN_POSITIVES positives measures the model's AUC loosely: said with the interval, so a
 * reader sees how far the metric (and a comparison made on it) can move by chance.
 */
export function fewPositivesWarning(
  auc: { auc: number; low: number; high: number; positives: number } | null,
  engine: string,
): SanityWarning | null {
  if (!auc || auc.positives >= MIN_POSITIVES) return null;
  return {
    kind: 'few-positives',
    refuses: false,
    engine,
    metric: 'roc_auc',
    model: auc.auc,
    baseline: 0,
    message:
      `the holdout has only ${auc.positives} positives (fewer than ${MIN_POSITIVES}): its metrics are noisy; ` +
      `ROC AUC ${auc.auc.toFixed(3)}, 95% CI [${auc.low.toFixed(3)}, ${auc.high.toFixed(3)}] (DeLong)`,
  };
}
