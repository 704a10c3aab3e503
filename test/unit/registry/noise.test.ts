/**
 * The publish step's noise checks: DeLong's interval for the paired AUC difference (checked against rocAuc and
 * against a seeded paired bootstrap of the same rows), the within-noise warning, and the label-rate shift warning.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  delongDifference,
  delongInterval,
  fewPositivesWarning,
  labelRateWarning,
  withinNoiseWarning,
} from '../../../registry/noise';
import { rocAuc } from '../../../ml/metrics';

/** mulberry32: a seeded generator, so the data and the bootstrap are the same on every run. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const gauss = (r: () => number) => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());

/** Labels at a 10 % base rate and two correlated scores; `edge` is how much more signal model a has. */
function data(n: number, seed: number, edge: number) {
  const r = rng(seed);
  const y = new Float64Array(n);
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = r() < 0.1 ? 1 : 0;
    const shared = gauss(r);
    a[i] = y[i] * (1 + edge) + shared + 0.5 * gauss(r);
    b[i] = y[i] + shared + 0.5 * gauss(r);
  }
  return { y, a, b };
}

describe('noise checks', () => {
  it("DeLong's difference is the difference of the two ROC AUCs, and its interval matches a paired bootstrap", () => {
    const { y, a, b } = data(3000, 11, 0.3);
    const d = delongDifference(y, a, b)!;
    assert.ok(Math.abs(d.difference - (rocAuc(y, a) - rocAuc(y, b))) < 1e-12);
    // Paired bootstrap (seeded): the standard deviation of the resampled differences ≈ DeLong's standard error.
    const r = rng(5);
    const diffs: number[] = [];
    for (let k = 0; k < 400; k++) {
      const idx = Array.from({ length: y.length }, () => Math.floor(r() * y.length));
      const yy = idx.map((i) => y[i]);
      diffs.push(
        rocAuc(
          yy,
          idx.map((i) => a[i]),
        ) -
          rocAuc(
            yy,
            idx.map((i) => b[i]),
          ),
      );
    }
    const mean = diffs.reduce((s, v) => s + v, 0) / diffs.length;
    const sd = Math.sqrt(diffs.reduce((s, v) => s + (v - mean) ** 2, 0) / (diffs.length - 1));
    const se = (d.high - d.low) / (2 * 1.959964);
    assert.ok(Math.abs(se / sd - 1) < 0.15, `DeLong SE ${se} vs bootstrap SD ${sd}`);
  });

  it('warns when the interval contains 0 and not when the difference is clear', () => {
    const clear = delongDifference(
      ...(Object.values(data(5000, 3, 1.5)) as [Float64Array, Float64Array, Float64Array]),
    );
    assert.ok(clear!.low > 0);
    assert.equal(withinNoiseWarning(clear, 'v0001'), null);
    const small = data(400, 4, 0.02);
    const noisy = delongDifference(small.y, small.a, small.b)!;
    const w = withinNoiseWarning(noisy, 'v0001');
    assert.ok(w && w.kind === 'auc-difference-within-noise' && !w.refuses);
    assert.match(
      w.message,
      /champion v0001 on the same 400 held-out users .* 95% CI \[[-+]\d\.\d{3}, [-+]\d\.\d{3}\] \(DeLong\)/,
    );
    assert.equal(delongDifference([1, 0, 0], [0.9, 0.1, 0.2], [0.8, 0.3, 0.1]), null, 'one positive: no interval');
  });

  it('warns when the label rate moved by half or more since the champion', () => {
    const champion = { version: 'v0003', rate: 0.04, cutoff: '2024-03-01T00:00:00.000Z' };
    assert.equal(labelRateWarning({ rate: 0.044, cutoff: '2024-04-01T00:00:00.000Z' }, champion), null);
    const up = labelRateWarning({ rate: 0.08, cutoff: '2024-04-01T00:00:00.000Z' }, champion);
    assert.equal(up?.kind, 'label-rate-shift');
    assert.match(up!.message, /label rate is 8\.0% at training cutoff 2024-04-01, 4\.0% for champion v0003 .*×2\.00/);
    assert.ok(labelRateWarning({ rate: 0.02, cutoff: '2024-04-01T00:00:00.000Z' }, champion));
    assert.equal(labelRateWarning({ rate: 0.02, cutoff: '2024-04-01' }, { ...champion, rate: null }), null);
  });

  it("a holdout under 100 positives is warned about with the AUC's own DeLong interval; 100 or more is not", () => {
    const small = data(230, 3, 0.5); // ~23 positives, like the sample's holdout
    const auc = delongInterval(small.y, small.a)!;
    assert.ok(Math.abs(auc.auc - rocAuc(small.y, small.a)) < 1e-12, 'the AUC itself');
    assert.ok(auc.low < auc.auc && auc.auc < auc.high);
    const w = fewPositivesWarning(auc, 'forest')!;
    assert.equal(w.kind, 'few-positives');
    assert.match(
      w.message,
      /only \d+ positives \(fewer than 100\).*ROC AUC 0\.\d{3}, 95% CI \[0\.\d{3}, 0\.\d{3}\] \(DeLong\)/,
    );
    const large = delongInterval(...(({ y, a }) => [y, a] as const)(data(5000, 3, 0.5)))!;
    assert.ok(large.positives >= 100 && fewPositivesWarning(large, 'forest') === null);
    assert.ok(large.high - large.low < (auc.high - auc.low) / 2, 'more positives, a narrower interval');
  });
});
