/**
 * BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"): how often a customer buys while
 * alive (Poisson, rate ~ Gamma(r, α)) and the chance they drop out after each purchase (p ~ Beta(a, b)), fitted
 * by maximum likelihood on each customer's RFM summary at the cutoff — x repeat purchase periods, recency t_x
 * and age T, in the pipeline's time unit (the `rfm_*` features, defined exactly as `lifetimes` does).
 */
import gammaln from '@stdlib/math-base-special-gammaln';
import hyp2f1 from '@stdlib/math-base-special-hyp2f1';
import { minimize } from './nelder-mead';

export interface RfmSummary {
  /** Repeat purchase periods (purchase days − 1). */
  frequency: ArrayLike<number>;
  /** Time from the first to the last purchase. */
  recency: ArrayLike<number>;
  /** Time from the first purchase to the end of the calibration period. */
  T: ArrayLike<number>;
  /** How many customers share each row (rows grouped by identical summaries); 1 each when absent. */
  weights?: ArrayLike<number>;
}

export interface BgNbdParams {
  r: number;
  alpha: number;
  a: number;
  b: number;
}

export interface BgNbdFit {
  params: BgNbdParams;
  /** Mean log-likelihood per customer at the optimum. */
  logLikelihood: number;
  customers: number;
  converged: boolean;
  iterations: number;
}

/**
 * ln Γ(c + x) − ln Γ(c) for x = 0…maxX, by the recurrence Γ(z + 1) = z·Γ(z): repeat counts are whole numbers,
 * so one table per likelihood evaluation replaces three log-gamma calls per customer.
 */
function lnGammaRatios(c: number, maxX: number): Float64Array {
  const t = new Float64Array(maxX + 1);
  for (let x = 1; x <= maxX; x++) t[x] = t[x - 1] + Math.log(c + x - 1);
  return t;
}

/** The mean negative log-likelihood per customer (eq. 6 of the paper, computed in logs for stability). */
export function bgNbdNegLogLikelihood(p: BgNbdParams, s: RfmSummary): number {
  const { r, alpha, a, b } = p;
  const n = s.frequency.length;
  let maxX = 0;
  let whole = true;
  for (let i = 0; i < n; i++) {
    maxX = Math.max(maxX, s.frequency[i]);
    whole &&= Number.isInteger(s.frequency[i]);
  }
  const tables = whole && maxX < 1e6;
  const gr = tables ? lnGammaRatios(r, maxX) : null;
  const gb = tables ? lnGammaRatios(b, maxX) : null;
  const gab = tables ? lnGammaRatios(a + b, maxX) : null;
  const rLnAlpha = r * Math.log(alpha);
  // Without tables: the same terms from ln Γ directly (ln Γ(r + x) − ln Γ(r) + ln Γ(b + x) − ln Γ(b) − …).
  const common = rLnAlpha + gammaln(a + b) - gammaln(r) - gammaln(b);
  let total = 0;
  let weight = 0;
  for (let i = 0; i < n; i++) {
    const w = s.weights ? s.weights[i] : 1;
    weight += w;
    const x = s.frequency[i];
    const a1 = tables
      ? gr![x] + gb![x] - gab![x] + rLnAlpha
      : gammaln(r + x) + gammaln(b + x) - gammaln(a + b + x) + common;
    const a3 = -(r + x) * Math.log(alpha + s.T[i]);
    if (x > 0) {
      const a4 = Math.log(a) - Math.log(b + x - 1) - (r + x) * Math.log(alpha + s.recency[i]);
      const m = Math.max(a3, a4);
      total += w * (a1 + m + Math.log(Math.exp(a3 - m) + Math.exp(a4 - m)));
    } else {
      total += w * (a1 + a3);
    }
  }
  return -total / weight;
}

/**
 * Maximum likelihood on log-parameters (all four are positive). Times are scaled to a maximum age of 10 while
 * fitting, as `lifetimes` does, so α starts near the others' scale; α is scaled back afterwards.
 */
export function fitBgNbd(s: RfmSummary): BgNbdFit {
  const n = s.frequency.length;
  if (n === 0) throw new Error('BG/NBD: no customers to fit');
  let maxT = 0;
  for (let i = 0; i < n; i++) maxT = Math.max(maxT, s.T[i]);
  if (!(maxT > 0)) throw new Error('BG/NBD: every customer has age 0; nothing to fit');
  const scale = 10 / maxT;
  const scaled: RfmSummary = {
    frequency: s.frequency,
    weights: s.weights,
    recency: Float64Array.from(s.recency, (v) => v * scale),
    T: Float64Array.from(s.T, (v) => v * scale),
  };
  const unpack = (z: number[]): BgNbdParams => ({
    r: Math.exp(z[0]),
    alpha: Math.exp(z[1]),
    a: Math.exp(z[2]),
    b: Math.exp(z[3]),
  });
  const result = minimize((z) => bgNbdNegLogLikelihood(unpack(z), scaled), [0, 0, 0, 0], { tolerance: 1e-12 });
  const fitted = unpack(result.x);
  const params = { ...fitted, alpha: fitted.alpha / scale };
  return {
    params,
    logLikelihood: -bgNbdNegLogLikelihood(params, s),
    customers: s.weights ? Array.from(s.weights).reduce((a, b) => a + b, 0) : n,
    converged: result.converged && Object.values(params).every(Number.isFinite),
    iterations: result.iterations,
  };
}

/** Expected purchases in the next t periods of a customer with summary (x, t_x, T) (eq. 10 of the paper). */
export function expectedPurchases(p: BgNbdParams, t: number, x: number, recency: number, T: number): number {
  const { r, alpha, a, b } = p;
  if (t <= 0) return 0;
  const z = t / (alpha + T + t);
  const c = a + b + x - 1;
  let lnHyp = Math.log(hyp2f1(r + x, b + x, c, z));
  // Euler's transformation when the direct series overflows (very frequent buyers, long horizons).
  if (!Number.isFinite(lnHyp))
    lnHyp = Math.log(hyp2f1(c - r - x, c - b - x, c, z)) + (c - r - x - b - x) * Math.log(1 - z);
  const first = (a + b + x - 1) / (a - 1);
  const second = 1 - Math.exp(lnHyp + (r + x) * Math.log((alpha + T) / (alpha + t + T)));
  const aliveOdds = x > 0 ? (a / (b + x - 1)) * Math.pow((alpha + T) / (alpha + recency), r + x) : 0;
  return (first * second) / (1 + aliveOdds);
}

/** P(the customer is still alive at the end of the calibration period) (eq. 13 of the paper). */
export function probabilityAlive(p: BgNbdParams, x: number, recency: number, T: number): number {
  if (x === 0) return 1;
  const { r, alpha, a, b } = p;
  const logOdds = (r + x) * Math.log((alpha + T) / (alpha + recency)) + Math.log(a / (b + x - 1));
  return 1 / (1 + Math.exp(logOdds));
}

/** Expected purchases of a new customer in (0, t] (the population curve, eq. 9), for checks and charts. */
export function populationExpectedPurchases(p: BgNbdParams, t: number): number {
  const { r, alpha, a, b } = p;
  const z = t / (alpha + t);
  return ((a + b - 1) / (a - 1)) * (1 - Math.pow(alpha / (alpha + t), r) * hyp2f1(r, b, a + b - 1, z));
}
