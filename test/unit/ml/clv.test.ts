/**
 * Customer lifetime value (issue 23): BG/NBD and Gamma-Gamma against `lifetimes` — the published CDNOW fits, the
 * library's own predictions for fixed parameters (test/fixtures/clv, from bench/python/clv_fixtures.py), recovery
 * of known parameters from simulated customers, and the bad-input rules (no NaN, a fit that fails says so).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ClvFitError,
  customerValue,
  expectedPurchases,
  expectedSpend,
  fitBgNbd,
  fitClv,
  fitGammaGamma,
  populationMeanSpend,
  probabilityAlive,
} from '../../../ml/clv';
import { mulberry32 } from '../../../ml/random';
import { projectRoot } from '../../../infra/root';

const fixture = JSON.parse(readFileSync(join(projectRoot(), 'test', 'fixtures', 'clv', 'lifetimes.json'), 'utf8'));
const summaryFile = join(
  projectRoot(),
  '..',
  'shared',
  'datasets',
  'cdnow',
  'cdnow_customers_summary_with_transactions.csv',
);
const noShared = !existsSync(summaryFile) && `the CDNOW summary is absent (${summaryFile})`;

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

describe('CLV formulas against lifetimes 0.11.3 for fixed parameters', () => {
  it('expected purchases and P(alive) of 216 customers/horizons agree to 1e-6 relative', () => {
    for (const c of fixture.purchases) {
      const e = expectedPurchases(fixture.bgnbd, c.t, c.x, c.tx, c.T);
      assert.ok(rel(e, c.expected) < 1e-6, `E[purchases] x=${c.x} tx=${c.tx} T=${c.T} t=${c.t}: ${e} vs ${c.expected}`);
      const p = probabilityAlive(fixture.bgnbd, c.x, c.tx, c.T);
      assert.ok(Math.abs(p - c.pAlive) < 1e-9, `P(alive) x=${c.x} tx=${c.tx} T=${c.T}: ${p} vs ${c.pAlive}`);
    }
  });

  it('Gamma-Gamma expected spend agrees, and a customer without repeats gets the population mean', () => {
    for (const c of fixture.spend) {
      const s = expectedSpend(fixture.gammaGamma, c.x, c.m);
      assert.ok(rel(s, c.spend) < 1e-9, `spend x=${c.x} m=${c.m}: ${s} vs ${c.spend}`);
    }
    assert.equal(expectedSpend(fixture.gammaGamma, 0, 0), populationMeanSpend(fixture.gammaGamma));
    assert.ok(Number.isFinite(populationMeanSpend(fixture.gammaGamma)));
  });
});

function readCdnowSummary() {
  const rows = readFileSync(summaryFile, 'utf8')
    .trim()
    .split(/\r?\n/)
    .slice(1)
    .map((l) => l.split(',').map(Number));
  return {
    frequency: rows.map((r) => r[1]),
    recency: rows.map((r) => r[2]),
    T: rows.map((r) => r[3]),
    monetary: rows.map((r) => r[4]),
  };
}

describe('CLV fits on the CDNOW sample (2,357 customers, weeks)', () => {
  it('match the published lifetimes fits within 1 %', { skip: noShared }, () => {
    const s = readCdnowSummary();
    const bg = fitBgNbd(s);
    assert.ok(bg.converged);
    const published = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
    for (const [k, v] of Object.entries(published))
      assert.ok(
        rel(bg.params[k as keyof typeof published], v) < 0.01,
        `${k}: ${bg.params[k as keyof typeof published]} vs ${v}`,
      );
    // And lifetimes' unrounded optimum to 1e-5 (the same maximum of the same likelihood).
    for (const [k, v] of Object.entries(fixture.bgnbd))
      assert.ok(rel(bg.params[k as keyof typeof published], v as number) < 1e-5, `${k} vs lifetimes ${v}`);
    const gg = fitGammaGamma(s.frequency, s.monetary);
    assert.equal(gg.customers, 946);
    for (const [k, v] of Object.entries({ p: 6.25, q: 3.74, v: 15.45 }))
      assert.ok(rel(gg.params[k as 'p'], v) < 0.01, `${k}: ${gg.params[k as 'p']} vs ${v}`);
  });

  it('grouping identical summaries with weights gives the same fit as one row each', { skip: noShared }, () => {
    const s = readCdnowSummary();
    const groups = new Map<string, { x: number; tx: number; T: number; n: number }>();
    s.frequency.forEach((x, i) => {
      const key = `${x}|${s.recency[i]}|${s.T[i]}`;
      const g = groups.get(key) ?? { x, tx: s.recency[i], T: s.T[i], n: 0 };
      g.n++;
      groups.set(key, g);
    });
    const g = [...groups.values()];
    assert.ok(g.length < s.frequency.length);
    const grouped = fitBgNbd({
      frequency: g.map((r) => r.x),
      recency: g.map((r) => r.tx),
      T: g.map((r) => r.T),
      weights: g.map((r) => r.n),
    });
    const single = fitBgNbd(s);
    assert.equal(grouped.customers, s.frequency.length);
    for (const k of ['r', 'alpha', 'a', 'b'] as const) assert.ok(rel(grouped.params[k], single.params[k]) < 1e-5, k);
  });
});

/** Customers drawn from BG/NBD itself (daily steps over their observation period) with known parameters. */
function simulate(n: number, seed: number, truth: { r: number; alpha: number; a: number; b: number }) {
  const rng = mulberry32(seed);
  const gamma = (shape: number, scale: number): number => {
    // Marsaglia–Tsang, with the shape < 1 boost.
    if (shape < 1) return gamma(shape + 1, scale) * Math.pow(rng(), 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number, v: number;
      do {
        const u1 = rng() || 1e-12;
        x = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * rng());
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      if (Math.log(rng() || 1e-12) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v * scale;
    }
  };
  const frequency: number[] = [],
    recency: number[] = [],
    T: number[] = [];
  for (let i = 0; i < n; i++) {
    const lambda = gamma(truth.r, 1 / truth.alpha);
    const ga = gamma(truth.a, 1),
      gb = gamma(truth.b, 1);
    const p = ga / (ga + gb);
    const age = 30 + 10 * rng();
    let t = 0,
      x = 0,
      last = 0;
    for (;;) {
      t += -Math.log(1 - rng()) / lambda;
      if (t > age) break;
      x++;
      last = t;
      if (rng() < p) break;
    }
    frequency.push(x);
    recency.push(last);
    T.push(age);
  }
  return { frequency, recency, T };
}

describe('CLV fit recovers known parameters', () => {
  it('BG/NBD on 20,000 simulated customers lands near the truth', () => {
    const truth = { r: 0.5, alpha: 6, a: 0.9, b: 2.5 };
    const fit = fitBgNbd(simulate(20_000, 11, truth));
    assert.ok(fit.converged);
    for (const k of ['r', 'alpha'] as const) assert.ok(rel(fit.params[k], truth[k]) < 0.1, `${k}: ${fit.params[k]}`);
    // a and b are less well identified separately; their mean a/(a+b) (drop-out chance per purchase) is.
    const drop = (q: typeof truth) => q.a / (q.a + q.b);
    assert.ok(rel(drop(fit.params), drop(truth)) < 0.1, `a/(a+b): ${drop(fit.params)} vs ${drop(truth)}`);
  });
});

describe('CLV bad input', () => {
  it('a population without repeat purchases cannot fit Gamma-Gamma: a ClvFitError names why', () => {
    const s = { frequency: [0, 0, 0, 1], recency: [0, 0, 0, 3], T: [10, 12, 14, 9], monetary: [0, 0, 0, 20] };
    assert.throws(
      () => fitClv(s, { horizon: 10, unit: 'weeks' }),
      (e: Error) => {
        assert.ok(e instanceof ClvFitError);
        assert.match(e.message, /Gamma-Gamma: 1 customers with repeat purchases/);
        return true;
      },
    );
  });

  it('every customer value is finite, with and without repeats', { skip: noShared }, () => {
    const s = readCdnowSummary();
    const m = fitClv(s, { horizon: 39, unit: 'weeks', annualDiscountRate: 0.1 });
    for (let i = 0; i < s.frequency.length; i++) {
      const v = customerValue(m, s.frequency[i], s.recency[i], s.T[i], s.monetary[i]);
      assert.ok(Object.values(v).every(Number.isFinite), `customer ${i}: ${JSON.stringify(v)}`);
    }
    const noRepeat = customerValue(m, 0, 0, 20, 0);
    assert.equal(noRepeat.expectedSpend, m.populationSpend);
    // Discounting lowers the value below undiscounted purchases × spend.
    assert.ok(noRepeat.clv < noRepeat.expectedPurchases * noRepeat.expectedSpend);
  });
});
