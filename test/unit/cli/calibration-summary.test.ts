import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { calibrationSummary } from '../../../cli/run';
import { evaluateBinary, positivesInterval } from '../../../ml/metrics';

describe('the run summary states the holdout calibration', () => {
  it('prints the debiased error, the plug-in ECE and the positives against the range chance alone allows', () => {
    const p = Array.from({ length: 500 }, (_, i) => 0.02 + (0.5 * i) / 500);
    const y = p.map((v, i) => (((i * 7919) % 1000) / 1000 < v ? 1 : 0));
    const m = evaluateBinary(y, p);
    const r = positivesInterval(p);
    const line = calibrationSummary(m as unknown as Record<string, number>);
    assert.equal(
      line,
      `calibration: debiased error ${m.ece_debiased.toFixed(3)} (target ≤ 0.02), plug-in ECE ${m.ece.toFixed(3)}; ` +
        `expected ${r.expected.toFixed(1)} positives, ${m.positives} observed (chance alone: ${r.low}–${r.high} at 90 %)`,
    );
  });

  it('prints nothing for metrics recorded before these measures', () => {
    assert.equal(calibrationSummary({ roc_auc: 0.8, ece: 0.03, positives: 10, predicted_to_observed: 1 }), null);
  });
});
