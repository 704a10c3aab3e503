/**
 * Uplift metrics as scikit-uplift (sklift.metrics 0.5) defines them, checked against it on fixtures
 * (bench/python/uplift_fixtures.py): the uplift and Qini curves, their areas normalised between a random ranking
 * (0) and a perfect one (1) (AUUC = uplift_auc_score, Qini coefficient = qini_auc_score), and uplift@k.
 * y: 0/1 outcomes, t: 1 = treatment, 0 = control, score: predicted uplift (higher = target first).
 */

export interface Curve {
  x: number[];
  y: number[];
}

/** Indices by score, highest first; ties keep the reverse of the input order (numpy's mergesort, reversed). */
function descending(score: ArrayLike<number>): number[] {
  return Array.from({ length: score.length }, (_, i) => i).sort((a, b) => score[b] - score[a] || b - a);
}

/** Cumulative counts at the last index of each run of equal scores (the curve's thresholds). */
function cumulative(y: ArrayLike<number>, t: ArrayLike<number>, score: ArrayLike<number>) {
  const order = descending(score);
  const out = { all: [] as number[], nT: [] as number[], yT: [] as number[], yC: [] as number[] };
  let nT = 0;
  let yT = 0;
  let yC = 0;
  order.forEach((i, k) => {
    nT += t[i];
    yT += t[i] ? y[i] : 0;
    yC += t[i] ? 0 : y[i];
    if (k === order.length - 1 || score[order[k + 1]] !== score[i]) {
      out.all.push(k + 1);
      out.nT.push(nT);
      out.yT.push(yT);
      out.yC.push(yC);
    }
  });
  return out;
}

const withOrigin = (x: number[], y: number[]): Curve =>
  x.length === 0 || y[0] !== 0 || x[0] !== 0 ? { x: [0, ...x], y: [0, ...y] } : { x, y };

/** (response rate of the treated − of the controls) × users, over the users targeted so far. */
export function upliftCurve(y: ArrayLike<number>, t: ArrayLike<number>, score: ArrayLike<number>): Curve {
  const c = cumulative(y, t, score);
  const values = c.all.map((n, k) => {
    const nC = n - c.nT[k];
    return ((c.nT[k] ? c.yT[k] / c.nT[k] : 0) - (nC ? c.yC[k] / nC : 0)) * n;
  });
  return withOrigin(c.all, values);
}

/** Incremental responders: treated responders − control responders scaled to the treated count. */
export function qiniCurve(y: ArrayLike<number>, t: ArrayLike<number>, score: ArrayLike<number>): Curve {
  const c = cumulative(y, t, score);
  const values = c.all.map((n, k) => {
    const nC = n - c.nT[k];
    return c.yT[k] - (nC ? (c.yC[k] * c.nT[k]) / nC : 0);
  });
  return withOrigin(c.all, values);
}

/** Trapezoidal area (sklearn.metrics.auc). */
export function area(c: Curve): number {
  let s = 0;
  for (let i = 1; i < c.x.length; i++) s += ((c.x[i] - c.x[i - 1]) * (c.y[i] + c.y[i - 1])) / 2;
  return s;
}

/** The area between a curve and the straight line to its end, over the perfect ranking's. */
function normalised(actual: Curve, perfect: Curve): number {
  const last = perfect.x.length - 1;
  const baseline = area({ x: [0, perfect.x[last]], y: [0, perfect.y[last]] });
  return (area(actual) - baseline) / (area(perfect) - baseline);
}

/** AUUC, normalised (sklift.metrics.uplift_auc_score). */
export function upliftAuc(y: ArrayLike<number>, t: ArrayLike<number>, score: ArrayLike<number>): number {
  let cr = 0;
  let tn = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] === 1 && t[i] === 0) cr++;
    if (y[i] === 0 && t[i] === 1) tn++;
  }
  const perfect = Array.from(y, (yi, i) => 2 * Number(yi === t[i]) + (cr > tn ? yi : t[i]));
  return normalised(upliftCurve(y, t, score), upliftCurve(y, t, perfect));
}

/** Qini coefficient, normalised (sklift.metrics.qini_auc_score with negative_effect = true). */
export function qiniCoefficient(y: ArrayLike<number>, t: ArrayLike<number>, score: ArrayLike<number>): number {
  const perfect = Array.from(y, (yi, i) => yi * t[i] - yi * (1 - t[i]));
  return normalised(qiniCurve(y, t, score), qiniCurve(y, t, perfect));
}

/**
 * Response rate of the treated minus that of the controls among the top k share (sklift.metrics.uplift_at_k):
 * "overall" takes the top k of everyone, "by_group" the top k of each group.
 */
export function upliftAtK(
  y: ArrayLike<number>,
  t: ArrayLike<number>,
  score: ArrayLike<number>,
  k: number,
  strategy: 'overall' | 'by_group' = 'overall',
): number {
  const order = descending(score);
  const mean = (idx: number[]) => idx.reduce((s, i) => s + y[i], 0) / idx.length;
  if (strategy === 'overall') {
    const top = order.slice(0, Math.floor(y.length * k));
    return mean(top.filter((i) => t[i] === 1)) - mean(top.filter((i) => t[i] === 0));
  }
  const treated = order.filter((i) => t[i] === 1);
  const controls = order.filter((i) => t[i] === 0);
  return (
    mean(treated.slice(0, Math.floor(treated.length * k))) - mean(controls.slice(0, Math.floor(controls.length * k)))
  );
}
