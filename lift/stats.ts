/**
 * The statistics of a measured campaign: 95 % intervals for the difference of two conversion rates (unpooled
 * Wald, the usual two-proportion interval), for their ratio (log relative risk, delta method), and for the
 * difference of two means of revenue per user (Welch's unequal-variance interval: revenue is skewed and the arms
 * differ in size, so the variances are not pooled; the t quantile uses the Welch–Satterthwaite degrees of freedom).
 */

export const Z95 = 1.959963984540054;

export interface Interval {
  estimate: number;
  low: number;
  high: number;
}

/** Two-sided 97.5 % quantile of Student's t (Cornish–Fisher expansion of the normal one; < 0.1 % off for df ≥ 3). */
export function t975(df: number): number {
  if (!Number.isFinite(df) || df > 1e7) return Z95;
  const z = Z95;
  const z3 = z ** 3;
  const z5 = z ** 5;
  const z7 = z ** 7;
  return (
    z +
    (z3 + z) / (4 * df) +
    (5 * z5 + 16 * z3 + 3 * z) / (96 * df ** 2) +
    (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df ** 3)
  );
}

/** Difference pT − pC of two proportions with its 95 % interval (unpooled standard error). */
export function rateDifference(xT: number, nT: number, xC: number, nC: number): Interval {
  const pT = xT / nT;
  const pC = xC / nC;
  const se = Math.sqrt((pT * (1 - pT)) / nT + (pC * (1 - pC)) / nC);
  const d = pT - pC;
  return { estimate: d, low: d - Z95 * se, high: d + Z95 * se };
}

/** Relative lift pT / pC − 1 with its 95 % interval from the log relative risk; null when a rate is 0. */
export function relativeLift(xT: number, nT: number, xC: number, nC: number): Interval | null {
  if (xT === 0 || xC === 0) return null;
  const rr = xT / nT / (xC / nC);
  const se = Math.sqrt(1 / xT - 1 / nT + 1 / xC - 1 / nC);
  return { estimate: rr - 1, low: rr * Math.exp(-Z95 * se) - 1, high: rr * Math.exp(Z95 * se) - 1 };
}

/** Sufficient statistics of one arm's revenue per user. */
export interface MeanStats {
  n: number;
  sum: number;
  sumSq: number;
}

/** Welch's 95 % interval for mean(T) − mean(C). */
export function meanDifference(t: MeanStats, c: MeanStats): Interval & { df: number } {
  const mean = (a: MeanStats) => a.sum / a.n;
  const variance = (a: MeanStats) => (a.n > 1 ? Math.max(0, (a.sumSq - a.n * mean(a) ** 2) / (a.n - 1)) : 0);
  const vt = variance(t) / t.n;
  const vc = variance(c) / c.n;
  const se = Math.sqrt(vt + vc);
  const df = se === 0 ? Infinity : (vt + vc) ** 2 / (vt ** 2 / Math.max(1, t.n - 1) + vc ** 2 / Math.max(1, c.n - 1));
  const d = mean(t) - mean(c);
  const q = t975(df);
  return { estimate: d, low: d - q * se, high: d + q * se, df };
}

export const containsZero = (i: Interval) => i.low <= 0 && i.high >= 0;

export const scaleInterval = (i: Interval, k: number): Interval => ({
  estimate: i.estimate * k,
  low: Math.min(i.low * k, i.high * k),
  high: Math.max(i.low * k, i.high * k),
});
