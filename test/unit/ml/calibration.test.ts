import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FeatureMatrix } from '../../../ml/classifier';
import { selectLabels, selectRows } from '../../../ml/classifier';
import { createClassifier, deserializeClassifier, type TabularEngine } from '../../../ml/engines';
import { holdoutSplit } from '../../../ml/cv';
import { applyCalibration, fitCalibration, priorCorrection } from '../../../ml/calibration';
import { baseRateLogLoss, expectedCalibrationError, logLoss, rocAuc } from '../../../ml/metrics';
import { mulberry32, normal } from '../../../ml/random';
import { modelSpec } from '../../../pipelines/schema/model';

/**
 * A marketing-like table (about 11 % positives, as the bank-marketing data of the issue): a few informative
 * columns with thresholds and an interaction, a skewed count, a categorical-like code and noise.
 */
function marketing(n: number, seed: number): { x: FeatureMatrix; y: Uint8Array } {
  const rng = mulberry32(seed);
  const names = ['duration', 'previous', 'age', 'balance', 'contact', 'noise1', 'noise2'];
  const cols = names.map(() => new Float32Array(n));
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const duration = Math.exp(5.3 + 0.8 * normal(rng));
    const previous = Math.floor(-Math.log(1 - rng()) * 0.6);
    const age = 20 + 50 * rng();
    const balance = 1500 * normal(rng) + 800;
    const contact = rng() < 0.3 ? 1 : 0;
    const z =
      -3.3 +
      1.4 * Math.log(duration / 200) +
      0.6 * Math.min(previous, 3) +
      (age > 60 || age < 25 ? 0.9 : 0) +
      0.0001 * balance +
      0.7 * contact * (duration > 300 ? 1 : 0);
    y[i] = rng() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    [duration, previous, age, balance, contact, normal(rng), normal(rng)].forEach((v, j) => (cols[j][i] = v));
  }
  return { x: { nRows: n, names, columns: cols }, y };
}

const sum = (p: ArrayLike<number>) => Array.from(p).reduce((a, b) => a + b, 0);

describe('calibrated probabilities', () => {
  const { x, y } = marketing(30_000, 5);
  const split = holdoutSplit(y, 1 / 2, 3);
  const xTrain = selectRows(x, split.train);
  const yTrain = selectLabels(y, split.train);
  const xTest = selectRows(x, split.test);
  const yTest = selectLabels(y, split.test);

  const cases: { engine: TabularEngine; params: Record<string, unknown> }[] = [
    { engine: 'logistic', params: {} },
    { engine: 'forest', params: { nTrees: 60 } },
    { engine: 'logistic', params: { classWeight: 'balanced' } },
    { engine: 'forest', params: { nTrees: 60, classWeight: 'balanced' } },
    { engine: 'forest', params: { nTrees: 20, classWeight: 'balanced', bootstrap: false } },
  ];
  for (const c of cases) {
    it(`${c.engine} ${JSON.stringify(c.params)} on an imbalanced table: log loss under the base rate's, ECE ≤ 0.02, Σp within ±10 %`, async (t) => {
      const clf = createClassifier(c.engine, c.params, 11);
      await clf.fit(xTrain, yTrain);
      const p = clf.predictProba(xTest);
      const positives = sum(yTest);
      const ll = logLoss(yTest, p);
      const ece = expectedCalibrationError(yTest, p);
      assert.ok(
        positives / yTest.length > 0.08 && positives / yTest.length < 0.15,
        `base rate ${positives / yTest.length}`,
      );
      t.diagnostic(
        `log loss ${ll.toFixed(4)} (base rate ${baseRateLogLoss(yTest).toFixed(4)}), ECE ${ece.toFixed(4)}, Σp/positives ${(sum(p) / positives).toFixed(3)}`,
      );
      assert.ok(ll < baseRateLogLoss(yTest), `log loss ${ll} vs base rate ${baseRateLogLoss(yTest)}`);
      assert.ok(ece <= 0.02, `ECE ${ece}`);
      assert.ok(Math.abs(sum(p) / positives - 1) <= 0.1, `Σp ${sum(p).toFixed(1)} vs ${positives} positives`);
      assert.ok(rocAuc(yTest, p) > 0.75, `AUC ${rocAuc(yTest, p)}`);
      // The calibration travels with the model: a loaded model publishes the same probabilities.
      const loaded = deserializeClassifier(JSON.parse(JSON.stringify(clf.serialize())));
      assert.deepEqual(Array.from(loaded.predictProba(xTest)), Array.from(p));
    });
  }

  it('uses one class-weighting default in the definition and the engines', () => {
    const spec = modelSpec.parse({});
    assert.equal(spec.forest.classWeight, 'none');
    assert.equal(spec.logistic.classWeight, 'none');
    const forest = createClassifier('forest') as unknown as { params: { classWeight: string } };
    const logistic = createClassifier('logistic') as unknown as { params: { classWeight: string } };
    assert.equal(forest.params.classWeight, spec.forest.classWeight);
    assert.equal(logistic.params.classWeight, spec.logistic.classWeight);
  });
});

describe('Platt scaling and prior correction', () => {
  it('recovers a known distortion of the log-odds and keeps the ranking', () => {
    const rng = mulberry32(2);
    const n = 20_000;
    const truth = new Float64Array(n);
    const score = new Float64Array(n);
    const y = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const z = -2 + 1.5 * normal(rng);
      truth[i] = 1 / (1 + Math.exp(-z));
      y[i] = rng() < truth[i] ? 1 : 0;
      // The score squeezes the log-odds by 2 and shifts them by +1: a = b = 2, c = −2 undo it.
      score[i] = 1 / (1 + Math.exp(-(z / 2 + 1)));
    }
    const c = fitCalibration(score, y, 'out-of-bag');
    const p = applyCalibration(c, score);
    let gap = 0;
    for (let i = 0; i < n; i++) gap += Math.abs(p[i] - truth[i]) / n;
    assert.ok(gap < 0.01, `mean |calibrated − true probability| ${gap} (${JSON.stringify(c)})`);
    assert.ok(expectedCalibrationError(y, p) < 0.01);
    assert.equal(rocAuc(y, p), rocAuc(y, score));
  });

  it('prior correction removes balanced weights from a leaf rate exactly', () => {
    // A leaf with 3 positives and 27 negatives, weighted 5 and 0.5: weighted rate 15 / 28.5.
    assert.ok(Math.abs(priorCorrection(15 / 28.5, 0.5, 5) - 0.1) < 1e-12);
  });
});
