import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../../infra/root';
import {
  aggregate,
  aggregateCalibration,
  aggregateLift,
  baseRateLogLoss,
  expectedCalibrationError,
  bestF1Threshold,
  brier,
  calibrationBins,
  confusionAt,
  evaluateBinary,
  liftByDecile,
  logLoss,
  prAuc,
  prCurve,
  rocAuc,
  rocCurve,
} from '../../../ml/metrics';

const close = (a: number, b: number, eps = 1e-9, what = '') =>
  assert.ok(Math.abs(a - b) <= eps, `${what}: ${a} vs ${b}`);

describe('metrics computed by hand', () => {
  it('ROC AUC counts ordered pairs, ties as half', () => {
    // pairs (pos, neg): (0.9,0.1)✓ (0.9,0.5)✓ (0.5,0.1)✓ (0.5,0.5)½ → 3.5 / 4
    close(rocAuc([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]), 0.875);
    close(rocAuc([1, 0], [0.2, 0.8]), 0);
    assert.ok(Number.isNaN(rocAuc([1, 1], [0.2, 0.8])));
  });

  it('average precision, log loss and Brier', () => {
    // ranking 1,0,1: precision at the two recall steps is 1 and 2/3 → AP = 0.5·1 + 0.5·2/3
    close(prAuc([1, 0, 1], [0.9, 0.8, 0.7]), 0.5 + 1 / 3);
    close(logLoss([1, 0], [0.8, 0.4]), -(Math.log(0.8) + Math.log(0.6)) / 2);
    close(brier([1, 0], [0.8, 0.4]), (0.04 + 0.16) / 2);
  });

  it('confusion, best F1 threshold, lift and gains', () => {
    const c = confusionAt([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1], 0.5);
    assert.deepEqual([c.tp, c.fp, c.tn, c.fn], [1, 1, 1, 1]);
    close(c.f1, 0.5);
    assert.equal(bestF1Threshold([1, 1, 0, 0], [0.9, 0.8, 0.3, 0.1]).threshold, 0.8);
    const y = Array.from({ length: 100 }, (_, i) => (i < 10 ? 1 : 0));
    const p = Array.from({ length: 100 }, (_, i) => 1 - i / 100);
    const lift = liftByDecile(y, p);
    close(lift[0].lift, 10);
    close(lift[0].cumulativeGain, 1);
    close(lift[9].cumulativeGain, 1);
  });

  it('curves are monotone, start at the origin and are JSON-safe', () => {
    const y = [1, 0, 1, 0, 1, 0, 0, 1];
    const p = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2];
    const roc = rocCurve(y, p);
    assert.equal(roc.fpr[0], 0);
    assert.equal(roc.tpr.at(-1), 1);
    for (let i = 1; i < roc.fpr.length; i++) assert.ok(roc.fpr[i] >= roc.fpr[i - 1] && roc.tpr[i] >= roc.tpr[i - 1]);
    assert.doesNotThrow(() => JSON.parse(JSON.stringify({ roc, pr: prCurve(y, p) })));
    assert.ok(
      rocCurve(
        Array.from({ length: 5000 }, (_, i) => i % 2),
        Array.from({ length: 5000 }, (_, i) => i / 5000),
        50,
      ).fpr.length <= 50,
    );
  });

  it('aggregates folds as mean ± sample std', () => {
    const a = aggregate([{ auc: 0.7 }, { auc: 0.8 }, { auc: 0.9 }]);
    close(a.mean.auc, 0.8);
    close(a.std.auc, 0.1);
  });

  it('aggregates lift per decile as mean ± std and pools calibration bins by count', () => {
    const row = (decile: number, lift: number, gain: number) => ({
      decile,
      users: 10,
      positives: 1,
      rate: 0.1,
      lift,
      cumulativeGain: gain,
    });
    const mk = (l: number, g: number) =>
      Array.from({ length: 10 }, (_, d) => row(d + 1, d === 0 ? l : 1, d === 0 ? g : 1));
    const lift = aggregateLift([mk(2, 0.2), mk(4, 0.4)]);
    close(lift[0].lift, 3);
    close(lift[0].liftStd, Math.SQRT2); // sample std of {2, 4}
    close(lift[0].cumulativeGain, 0.3);
    close(lift[9].liftStd, 0);
    const bin = (binStart: number, meanPredicted: number, fractionPositive: number, count: number) => ({
      binStart,
      binEnd: binStart + 0.1,
      meanPredicted,
      fractionPositive,
      count,
    });
    const cal = aggregateCalibration([[bin(0, 0.05, 0.1, 30), bin(0.5, 0.55, 0.5, 10)], [bin(0, 0.07, 0.2, 10)]]);
    assert.equal(cal.length, 2);
    close(cal[0].count, 40);
    close(cal[0].meanPredicted, (0.05 * 30 + 0.07 * 10) / 40);
    close(cal[0].fractionPositive, (0.1 * 30 + 0.2 * 10) / 40);
    close(cal[0].fractionPositiveStd, Math.sqrt(0.005)); // sample std of {0.1, 0.2}
    assert.equal(cal[1].folds, 1);
    close(cal[1].fractionPositiveStd, 0);
  });
});

describe('calibration metrics', () => {
  it('ECE is the count-weighted gap between predicted and observed per bin; the base rate has its log loss', () => {
    // Bin 0.1–0.2: four users at 0.15, one converts (gap 0.1); bin 0.9–1.0: one user at 0.95 who converts (0.05).
    const y = [1, 0, 0, 0, 1];
    const p = [0.15, 0.15, 0.15, 0.15, 0.95];
    close(expectedCalibrationError(y, p), (4 * 0.1 + 1 * 0.05) / 5);
    close(expectedCalibrationError([0, 1], [0, 1]), 0);
    close(baseRateLogLoss(y), -(0.4 * Math.log(0.4) + 0.6 * Math.log(0.6)));
    close(baseRateLogLoss(y), logLoss(y, [0.4, 0.4, 0.4, 0.4, 0.4]));
    const m = evaluateBinary(y, p);
    close(m.ece, 0.09);
    close(m.predicted_to_observed, 1.55 / 2);
  });
});

describe('metrics against scikit-learn (fixtures from bench/python/metrics_fixtures.py)', () => {
  const fixture = JSON.parse(
    readFileSync(join(projectRoot(), 'test', 'fixtures', 'metrics', 'sklearn.json'), 'utf8'),
  ) as {
    cases: {
      name: string;
      y: number[];
      p: number[];
      roc_auc: number;
      pr_auc: number;
      log_loss: number;
      brier: number;
      accuracy: number;
      precision: number;
      recall: number;
      f1: number;
      calibration: { fraction_positive: number[]; mean_predicted: number[] };
    }[];
  };
  for (const c of fixture.cases) {
    it(`matches sklearn on ${c.name}`, () => {
      const m = evaluateBinary(c.y, c.p, { threshold: 0.5 });
      for (const k of ['roc_auc', 'pr_auc', 'log_loss', 'brier', 'accuracy', 'precision', 'recall', 'f1'] as const)
        close(m[k], c[k], 1e-9, `${c.name} ${k}`);
      const bins = calibrationBins(c.y, c.p, 10);
      assert.equal(bins.length, c.calibration.fraction_positive.length);
      bins.forEach((b, i) => {
        close(b.fractionPositive, c.calibration.fraction_positive[i], 1e-9, 'fraction positive');
        close(b.meanPredicted, c.calibration.mean_predicted[i], 1e-9, 'mean predicted');
      });
    });
  }
});
