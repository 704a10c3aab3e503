import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { meanDifference, rateDifference, relativeLift, t975 } from '../../../lift/stats';
import { measureLift, type ArmOutcome } from '../../../lift/measure';
import { assignmentFraction, isControl } from '../../../lift/assignment';

const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

/** An arm whose converters each spent `value` (so revenue per user is a scaled Bernoulli). */
const arm = (users: number, conversions: number, value = 10): ArmOutcome => ({
  users,
  conversions,
  revenue: { n: users, sum: conversions * value, sumSq: conversions * value * value },
});

describe('lift statistics', () => {
  it('gives the two-proportion interval and the log relative-risk interval', () => {
    // 12 % vs 8 % of 500: se = sqrt(.12 × .88 / 500 + .08 × .92 / 500) = 0.0189315.
    const d = rateDifference(60, 500, 40, 500);
    close(d.estimate, 0.04, 1e-12, 'difference');
    close(d.high - d.estimate, 1.959964 * 0.0189315, 1e-6, 'half width');
    const r = relativeLift(60, 500, 40, 500)!;
    close(r.estimate, 0.5, 1e-12, 'relative');
    close(
      Math.log(1 + r.high) - Math.log(1.5),
      1.959964 * Math.sqrt(1 / 60 - 1 / 500 + 1 / 40 - 1 / 500),
      1e-6,
      'log RR',
    );
    assert.equal(relativeLift(3, 100, 0, 100), null, 'no ratio against a zero rate');
  });

  it("uses Welch's interval with Student's t quantiles", () => {
    // Student's t 97.5 % quantiles (tables): the expansion is within 0.5 % from 5 degrees of freedom.
    for (const [df, q] of [
      [5, 2.570582],
      [10, 2.228139],
      [30, 2.042272],
      [100, 1.983972],
    ])
      close(t975(df), q, 0.005 * q, `t(${df})`);
    // Equal sizes and variances: df = 2n − 2, and the interval is the mean difference ± t × sqrt(2 s² / n).
    const t = { n: 10, sum: 20, sumSq: 20 * 2 + 9 * 4 }; // mean 2, variance 4
    const c = { n: 10, sum: 10, sumSq: 10 + 9 * 4 }; // mean 1, variance 4
    const w = meanDifference(t, c);
    close(w.df, 18, 1e-9, 'df');
    close(w.high - w.estimate, t975(18) * Math.sqrt((2 * 4) / 10), 1e-9, 'half width');
  });

  it('prices a clear lift (ROI, CAC with intervals) and refuses figures whose interval contains 0', () => {
    const econ = { currency: 'EUR', costPerContact: 0.5, fixedCost: 100, value: 'label_revenue' as const };
    const clear = measureLift(arm(2000, 300, 40), arm(2000, 200, 40), econ);
    assert.equal(clear.cost, 1100);
    close(clear.incrementalConversions.estimate, 100, 1e-9, 'incremental conversions');
    close(clear.incrementalRevenue.estimate, 4000, 1e-6, 'incremental revenue');
    close(clear.roi.value!, (4000 - 1100) / 1100, 1e-9, 'ROI');
    close(clear.cac.value!, 11, 1e-9, 'CAC');
    assert.ok('interval' in clear.cac && clear.cac.interval!.low < 11 && clear.cac.interval!.high > 11);
    const noise = measureLift(arm(200, 21), arm(200, 20), econ);
    assert.equal(noise.cac.value, null);
    assert.match((noise.cac as { reason: string }).reason, /not measurable: the 95 % interval of the conversion lift/);
    assert.equal(noise.roi.value, null);
    const unpriced = measureLift(arm(2000, 300), arm(2000, 200));
    assert.match((unpriced.roi as { reason: string }).reason, /no economics/);
    const harmful = measureLift(arm(2000, 100), arm(2000, 200), econ);
    assert.match((harmful.cac as { reason: string }).reason, /lowered conversion/);
  });

  it('assigns the control group by a salted hash of (campaign, user), about the share asked for', () => {
    const users = Array.from({ length: 20000 }, (_, i) => `u${i}`);
    const share = users.filter((u) => isControl(0.1, '', 'promo', u)).length / users.length;
    close(share, 0.1, 0.01, 'share');
    assert.equal(users.filter((u) => isControl(0, '', 'promo', u)).length, 0, 'share 0: nobody held out');
    assert.notEqual(assignmentFraction('', 'promo', 'u1'), assignmentFraction('', 'other', 'u1'), 'per campaign');
    assert.notEqual(assignmentFraction('', 'promo', 'u1'), assignmentFraction('new', 'promo', 'u1'), 'per salt');
  });
});
