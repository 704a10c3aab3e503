import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  chanceCalibrationError,
  debiasedCalibrationError,
  evaluateBinary,
  expectedCalibrationError,
  positivesInterval,
  squaredCalibrationErrorUnbiased,
} from '../../../ml/metrics';
import { mulberry32, normal } from '../../../ml/random';

/** A perfectly calibrated model: outcomes drawn from its own probabilities (logit-normal, ~22 % positive). */
function calibrated(n: number, seed: number): { p: Float64Array; y: Uint8Array } {
  const rng = mulberry32(seed);
  const p = new Float64Array(n);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    p[i] = 1 / (1 + Math.exp(1.5 - 1.2 * normal(rng)));
    y[i] = rng() < p[i] ? 1 : 0;
  }
  return { p, y };
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const sd = (v: number[]) => Math.sqrt(v.reduce((a, b) => a + (b - mean(v)) ** 2, 0) / (v.length - 1));

describe('debiased calibration error (Kumar, Liang & Ma 2019)', () => {
  const draws = Array.from({ length: 40 }, (_, s) => calibrated(600, s + 1));

  it('is ≈ 0 for a perfectly calibrated model on 600 rows, where the plug-in ECE shows ~0.035 of noise', () => {
    const plugin = draws.map(({ y, p }) => expectedCalibrationError(y, p));
    const debiased = draws.map(({ y, p }) => debiasedCalibrationError(y, p));
    const squared = draws.map(({ y, p }) => squaredCalibrationErrorUnbiased(y, p));
    assert.ok(mean(plugin) > 0.03, `plug-in ECE of a calibrated model on 600 rows: ${mean(plugin)}`);
    assert.ok(mean(debiased) < 0.02, `debiased: ${mean(debiased)}`);
    assert.ok(mean(debiased) < mean(plugin) / 2, `debiased ${mean(debiased)} vs plug-in ${mean(plugin)}`);
    // Unbiased where it is defined (squared): the mean over draws is 0 within two standard errors.
    const se = sd(squared) / Math.sqrt(squared.length);
    assert.ok(Math.abs(mean(squared)) < 2 * se, `squared: ${mean(squared)} ± ${se}`);
    // …and the chance floor the plug-in is read against matches what the plug-in showed.
    const floor = mean(draws.slice(0, 5).map(({ p }) => chanceCalibrationError(p, 100)));
    assert.ok(Math.abs(floor - mean(plugin)) < 0.008, `chance floor ${floor} vs plug-in ${mean(plugin)}`);
  });

  it('detects a miscalibrated model (p × 1.3) on the same rows', () => {
    const debiased = draws.map(({ y, p }) =>
      debiasedCalibrationError(
        y,
        p.map((v) => Math.min(1, 1.3 * v)),
      ),
    );
    assert.ok(mean(debiased) > 0.06, `mean debiased error of p×1.3: ${mean(debiased)}`);
    const caught = debiased.filter((d) => d > 0.02).length;
    assert.ok(caught >= 38, `p×1.3 above 0.02 in ${caught} of 40 draws`);
  });

  it('equals the formula on a hand-made case', () => {
    // Two equal-mass bins of 2: predictions (0.1, 0.2 | 0.7, 0.8), outcomes (0, 1 | 1, 1).
    const y = [0, 1, 1, 1];
    const p = [0.1, 0.2, 0.7, 0.8];
    const bin1 = (0.15 - 0.5) ** 2 - (0.5 * 0.5) / 1;
    const bin2 = (0.75 - 1) ** 2 - 0;
    assert.ok(Math.abs(squaredCalibrationErrorUnbiased(y, p, 2) - (bin1 + bin2) / 2) < 1e-12);
    assert.equal(debiasedCalibrationError(y, p, 2), 0); // negative squared estimate: indistinguishable from 0
  });
});

describe('the positives a calibrated model expects (Poisson-binomial)', () => {
  it('is exact on a case enumerated by hand', () => {
    // p = (0.5, 0.5, 0.9): P(K=0)=0.025, P(K≤1)=0.25, P(K≤2)=0.775, P(K≤3)=1.
    assert.deepEqual(positivesInterval([0.5, 0.5, 0.9], 0.9), { expected: 1.9, low: 1, high: 3 });
    assert.deepEqual(positivesInterval([0.5, 0.5, 0.9], 0.4), { expected: 1.9, low: 1, high: 2 });
  });

  it('uses a normal approximation on large sets that agrees with the exact count within 1', () => {
    const { p } = calibrated(3000, 7);
    const exact = positivesInterval(p);
    const approx = positivesInterval(p, 0.9, 0);
    assert.ok(Math.abs(exact.low - approx.low) <= 1 && Math.abs(exact.high - approx.high) <= 1, `${exact} ${approx}`);
  });

  it('covers the observed positives of a calibrated model about 90 % of the time', () => {
    let inside = 0;
    for (let s = 1; s <= 200; s++) {
      const { y, p } = calibrated(600, 1000 + s);
      const k = y.reduce((a, b) => a + b, 0);
      const r = positivesInterval(p);
      if (k >= r.low && k <= r.high) inside++;
    }
    assert.ok(inside >= 170 && inside <= 194, `inside the 90 % range in ${inside} of 200 draws`);
  });

  it('gives evaluateBinary the range of Σp ÷ positives that chance alone allows', () => {
    const { y, p } = calibrated(600, 3);
    const m = evaluateBinary(y, p);
    const r = positivesInterval(p);
    assert.ok(Math.abs(m.predicted_to_observed_low - r.expected / r.high) < 1e-12);
    assert.ok(Math.abs(m.predicted_to_observed_high - r.expected / r.low) < 1e-12);
    assert.ok(m.predicted_to_observed_low < 1 && m.predicted_to_observed_high > 1);
    assert.ok(Number.isFinite(m.ece_debiased));
  });
});
