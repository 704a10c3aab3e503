/**
 * The logistic baseline fits its coefficients on a stratified sample of at most `maxRows` rows (issue 17: on every
 * one of 2.4 M training rows it cost more CPU than the forest). The sample keeps a rare class, its rows stand for
 * their class (weight N_c / n_c), and the calibration still sees every row, so the model scores as the full fit.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FeatureMatrix } from '../../../ml/classifier';
import { selectLabels, selectRows } from '../../../ml/classifier';
import { holdoutSplit } from '../../../ml/cv';
import { LogisticRegression, stratifiedSample } from '../../../ml/logistic';
import { rocAuc } from '../../../ml/metrics';
import { mulberry32, normal } from '../../../ml/random';
import { logisticParams } from '../../../pipelines/schema/model';

/** 6 features, 3 informative, positives at about 2 %. */
function generated(n: number, seed: number): { x: FeatureMatrix; y: Uint8Array } {
  const rng = mulberry32(seed);
  const cols = Array.from({ length: 6 }, () => new Float32Array(n));
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    for (const c of cols) c[i] = normal(rng);
    const logit = -4.6 + 1.2 * cols[0][i] - 0.8 * cols[1][i] + 0.5 * cols[2][i];
    y[i] = rng() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
  }
  return { x: { nRows: n, names: cols.map((_, j) => `f${j}`), columns: cols }, y };
}

describe('logistic regression on a sample of the rows (maxRows)', () => {
  it('samples at most maxRows rows, keeps a rare class whole, and says how many rows each kept row stands for', () => {
    const y = new Uint8Array(50_000);
    for (let i = 0; i < y.length; i += 100) y[i] = 1; // 500 positives
    const s = stratifiedSample(y, 10_000, 7)!;
    assert.equal(s.rows.length, 10_000);
    const kept = selectLabels(y, s.rows).reduce((a, v) => a + v, 0);
    assert.equal(kept, 500, 'every positive is kept');
    assert.equal(s.expansion[1], 1);
    assert.equal(s.expansion[0], 49_500 / 9_500);
    assert.ok(
      s.rows.every((r, k) => k === 0 || r > s.rows[k - 1]),
      'ascending row order',
    );
    assert.deepEqual(stratifiedSample(y, 10_000, 7), s, 'deterministic');
    assert.equal(stratifiedSample(y, 50_000, 7), null, 'no sample when every row fits');
  });

  it('is the default above 100k rows, and scores as the fit on every row (AUC, calibrated mean)', async () => {
    assert.equal(logisticParams.parse({}).maxRows, 100_000);
    const { x, y } = generated(60_000, 3);
    const s = holdoutSplit(y, 0.25, 1);
    const xt = selectRows(x, s.test);
    const yt = selectLabels(y, s.test);
    const fit = async (maxRows: number) => {
      const m = new LogisticRegression({ maxRows });
      await m.fit(selectRows(x, s.train), selectLabels(y, s.train));
      const p = m.predictProba(xt);
      return { m, auc: rocAuc(yt, p), mean: p.reduce((a, v) => a + v, 0) / p.length };
    };
    const full = await fit(1_000_000);
    const sampled = await fit(8_000);
    assert.ok(Math.abs(full.auc - sampled.auc) < 0.005, `AUC full ${full.auc} vs sampled ${sampled.auc}`);
    assert.ok(Math.abs(full.mean - sampled.mean) < 0.002, `mean p full ${full.mean} vs sampled ${sampled.mean}`);
    // The coefficients estimate the same model (the rows of the rare class are all in the sample).
    for (let j = 1; j <= 3; j++)
      assert.ok(
        Math.abs(full.m.coef[j] - sampled.m.coef[j]) < 0.25 * Math.abs(full.m.coef[j]),
        `coef ${j}: ${full.m.coef[j]} vs ${sampled.m.coef[j]}`,
      );
    assert.notDeepEqual(full.m.coef, sampled.m.coef, 'the sampled fit did not see every row');
  });
});
