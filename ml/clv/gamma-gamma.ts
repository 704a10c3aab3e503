/**
 * Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999): the value of each
 * of a customer's transactions ~ Gamma(p, ν) with ν ~ Gamma(q, γ). Fitted by maximum likelihood on the customers
 * with repeat purchases (x > 0) and their mean repeat value, as `lifetimes`' GammaGammaFitter does; a customer
 * without repeats gets the population mean spend.
 */
import gammaln from '@stdlib/math-base-special-gammaln';
import { minimize } from './nelder-mead';

export interface GammaGammaParams {
  p: number;
  q: number;
  v: number;
}

export interface GammaGammaFit {
  params: GammaGammaParams;
  logLikelihood: number;
  /** Customers with x > 0 and a positive mean value (weighted): the rows the fit used. */
  customers: number;
  converged: boolean;
  iterations: number;
}

/**
 * The mean negative log-likelihood of the repeat customers' mean values. ln Γ(p·x + q) − ln Γ(p·x) depends on x
 * alone within one evaluation, so it is computed once per distinct repeat count (x is a whole number of days).
 */
function negLogLikelihood(g: GammaGammaParams, rows: Rows): number {
  const { p, q, v } = g;
  const byX = new Float64Array(rows.maxX + 1);
  for (let x = 1; x <= rows.maxX; x++) byX[x] = gammaln(p * x + q) - gammaln(p * x);
  let total = 0;
  const base = q * Math.log(v) - gammaln(q);
  for (let i = 0; i < rows.x.length; i++) {
    const x = rows.x[i];
    const px = p * x;
    const lg = Number.isInteger(x) && x <= rows.maxX ? byX[x] : gammaln(px + q) - gammaln(px);
    const ll = lg + base + (px - 1) * rows.lnM[i] + px * rows.lnX[i] - (px + q) * Math.log(x * rows.m[i] + v);
    total += rows.w[i] * ll;
  }
  return -total / rows.weight;
}

interface Rows {
  x: number[];
  m: number[];
  w: number[];
  lnX: Float64Array;
  lnM: Float64Array;
  maxX: number;
  weight: number;
}

/** Fits on the customers with frequency > 0 and monetary > 0 (the others carry no spend information). */
export function fitGammaGamma(
  frequency: ArrayLike<number>,
  monetary: ArrayLike<number>,
  weights?: ArrayLike<number>,
): GammaGammaFit {
  const x: number[] = [];
  const m: number[] = [];
  const w: number[] = [];
  let customers = 0;
  for (let i = 0; i < frequency.length; i++) {
    if (frequency[i] > 0 && monetary[i] > 0) {
      x.push(frequency[i]);
      m.push(monetary[i]);
      w.push(weights ? weights[i] : 1);
      customers += weights ? weights[i] : 1;
    }
  }
  if (customers < 3)
    throw new Error(`Gamma-Gamma: ${x.length} customers with repeat purchases and a positive value; need at least 3`);
  const unpack = (z: number[]): GammaGammaParams => ({ p: Math.exp(z[0]), q: Math.exp(z[1]), v: Math.exp(z[2]) });
  const rows: Rows = {
    x,
    m,
    w,
    lnX: Float64Array.from(x, Math.log),
    lnM: Float64Array.from(m, Math.log),
    maxX: Math.min(Math.max(...x.filter(Number.isInteger), 0), 1e6),
    weight: customers,
  };
  const result = minimize((z) => negLogLikelihood(unpack(z), rows), [0, 0, 0], { tolerance: 1e-12 });
  const params = unpack(result.x);
  return {
    params,
    logLikelihood: -result.fx,
    customers,
    // q ≤ 1 makes the population mean spend infinite: a fit that cannot be used.
    converged: result.converged && params.q > 1 && Object.values(params).every(Number.isFinite),
    iterations: result.iterations,
  };
}

/** The population's mean spend per transaction, E[Z] = pν/(q − 1): what a customer without repeats gets. */
export function populationMeanSpend(g: GammaGammaParams): number {
  return (g.p * g.v) / (g.q - 1);
}

/** E[Z | x, m̄]: a weighted mean of the population's and the customer's own mean spend. */
export function expectedSpend(g: GammaGammaParams, x: number, monetary: number): number {
  const w = x > 0 ? (g.p * x) / (g.p * x + g.q - 1) : 0;
  return (1 - w) * populationMeanSpend(g) + w * monetary;
}
