import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { blendProbability } from '../../../ml/scorer';

describe('blend of the forest and the LSTM', () => {
  const even = { weights: { forest: 0.5, lstm: 0.5 }, combine: 'logit' as const };

  it('averages log-odds: agreeing parts keep their probability, opposite ones cancel', () => {
    for (const p of [0.01, 0.3, 0.9]) assert.ok(Math.abs(blendProbability(p, p, even) - p) < 1e-12, String(p));
    assert.ok(Math.abs(blendProbability(0.2, 0.8, even) - 0.5) < 1e-12);
    // Odds 1/99 and 1: their geometric mean is ~1/9.95, a probability of ~0.0913.
    assert.ok(Math.abs(blendProbability(0.01, 0.5, even) - 1 / (1 + Math.sqrt(99))) < 1e-9);
    // A confident "no" weighs as much as a "maybe": 0.001 and 0.6 blend to ~0.04 (a probability average: ~0.30).
    assert.ok(blendProbability(0.001, 0.6, even) < 0.05);
  });

  it('follows the weights, and blends published before keep averaging probabilities', () => {
    const forestOnly = { weights: { forest: 1, lstm: 0 }, combine: 'logit' as const };
    assert.ok(Math.abs(blendProbability(0.37, 0.9, forestOnly) - 0.37) < 1e-12);
    assert.equal(blendProbability(0.2, 0.6, { weights: { forest: 0.5, lstm: 0.5 } }), 0.4);
  });

  it('stays a probability at the extremes', () => {
    for (const [a, b] of [
      [0, 0],
      [1, 1],
      [0, 1],
    ]) {
      const p = blendProbability(a, b, even);
      assert.ok(p >= 0 && p <= 1 && Number.isFinite(p), `${a}, ${b} → ${p}`);
    }
  });
});
