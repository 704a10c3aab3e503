/**
 * Customer lifetime value from the RFM summary at the cutoff, the way `lifetimes` users compute it: BG/NBD for how
 * many purchases a customer will make and whether they are still "alive", Gamma-Gamma for how much each purchase
 * is worth, CLV = Σ over the horizon's steps of expected purchases in the step × expected spend, discounted.
 * Pure: the activity (activities/clv.ts) reads the summary from the feature table and writes the columns.
 */
import { expectedPurchases, fitBgNbd, probabilityAlive, type BgNbdFit, type RfmSummary } from './bgnbd';
import { expectedSpend, fitGammaGamma, populationMeanSpend, type GammaGammaFit } from './gamma-gamma';

export * from './bgnbd';
export * from './gamma-gamma';

export interface ClvModel {
  bgnbd: BgNbdFit;
  gammaGamma: GammaGammaFit;
  /** The prediction horizon, in the RFM time unit. */
  horizon: number;
  unit: 'days' | 'weeks';
  /** Discount rate per year; 0 = undiscounted. Applied per step (about a month) as `lifetimes` does. */
  annualDiscountRate: number;
  /** E[spend] of a customer without repeat purchases (the population mean), stated in the report. */
  populationSpend: number;
}

export class ClvFitError extends Error {
  name = 'ClvFitError';
}

/**
 * Fits both models. A fit that does not converge (or a Gamma-Gamma with q ≤ 1, whose mean spend is infinite)
 * throws: the run then publishes nothing rather than values nobody can trust.
 */
export function fitClv(
  s: RfmSummary & { monetary: ArrayLike<number> },
  o: { horizon: number; unit: 'days' | 'weeks'; annualDiscountRate?: number },
  /** Gamma-Gamma's rows when they are grouped differently from BG/NBD's (default: the same rows). */
  repeat: { frequency: ArrayLike<number>; monetary: ArrayLike<number>; weights?: ArrayLike<number> } = s,
): ClvModel {
  const bgnbd = fitBgNbd(s);
  if (!bgnbd.converged)
    throw new ClvFitError(
      `BG/NBD did not converge after ${bgnbd.iterations} iterations on ${bgnbd.customers} customers ` +
        `(r ${bgnbd.params.r.toPrecision(4)}, α ${bgnbd.params.alpha.toPrecision(4)}, a ${bgnbd.params.a.toPrecision(4)}, b ${bgnbd.params.b.toPrecision(4)})`,
    );
  let gammaGamma: GammaGammaFit;
  try {
    gammaGamma = fitGammaGamma(repeat.frequency, repeat.monetary, repeat.weights);
  } catch (e) {
    throw new ClvFitError((e as Error).message);
  }
  if (!gammaGamma.converged)
    throw new ClvFitError(
      `Gamma-Gamma did not converge after ${gammaGamma.iterations} iterations on ${gammaGamma.customers} repeat ` +
        `customers (p ${gammaGamma.params.p.toPrecision(4)}, q ${gammaGamma.params.q.toPrecision(4)}, v ${gammaGamma.params.v.toPrecision(4)}; q must be > 1)`,
    );
  return {
    bgnbd,
    gammaGamma,
    horizon: o.horizon,
    unit: o.unit,
    annualDiscountRate: o.annualDiscountRate ?? 0,
    populationSpend: populationMeanSpend(gammaGamma.params),
  };
}

export interface CustomerValue {
  expectedPurchases: number;
  pAlive: number;
  expectedSpend: number;
  clv: number;
}

/** Steps of about a month (30 days) over the horizon, the last one shorter. */
function steps(m: ClvModel): number[] {
  const month = m.unit === 'weeks' ? 30 / 7 : 30;
  const ends: number[] = [];
  for (let t = month; t < m.horizon - 1e-9; t += month) ends.push(t);
  ends.push(m.horizon);
  return ends;
}

/**
 * Expected purchases over the horizon and the same discounted to the cutoff (step by step, about monthly): CLV is
 * the discounted purchases × the expected spend, so the spend can be applied afterwards (in SQL, per customer).
 */
export function purchasesOverHorizon(
  m: ClvModel,
  x: number,
  recency: number,
  T: number,
): { expected: number; discounted: number } {
  const yearsPerUnit = m.unit === 'weeks' ? 7 / 365.25 : 1 / 365.25;
  let discounted = 0;
  let previous = 0;
  for (const t of steps(m)) {
    const cumulative = expectedPurchases(m.bgnbd.params, t, x, recency, T);
    discounted += (cumulative - previous) / Math.pow(1 + m.annualDiscountRate, t * yearsPerUnit);
    previous = cumulative;
  }
  return { expected: previous, discounted };
}

/** One customer's value; a customer without repeats gets the population's mean spend (Gamma-Gamma's prior). */
export function customerValue(m: ClvModel, x: number, recency: number, T: number, monetary: number): CustomerValue {
  const spend = expectedSpend(m.gammaGamma.params, x, x > 0 ? monetary : 0);
  const { expected, discounted } = purchasesOverHorizon(m, x, recency, T);
  return {
    expectedPurchases: expected,
    pAlive: probabilityAlive(m.bgnbd.params, x, recency, T),
    expectedSpend: spend,
    clv: discounted * spend,
  };
}
