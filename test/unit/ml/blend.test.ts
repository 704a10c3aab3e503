import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FeatureMatrix } from '../../../ml/classifier';
import { BoostedTrees } from '../../../ml/boosted';
import { createClassifier } from '../../../ml/engines';
import { mulberry32, normal } from '../../../ml/random';
import { blendOf, blendProbability, loadScorer, type BlendPayload } from '../../../ml/scorer';
import { modelSpec } from '../../../pipelines/schema/model';

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

describe('blend of chosen parts (model.blend.parts)', () => {
  function data(n: number, seed: number): { x: FeatureMatrix; y: Uint8Array } {
    const rng = mulberry32(seed);
    const cols = Array.from({ length: 4 }, () => new Float32Array(n));
    const y = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      for (const c of cols) c[i] = normal(rng);
      y[i] = rng() < 1 / (1 + Math.exp(-(1.2 * cols[0][i] - 0.8 * cols[1][i] * cols[2][i]))) ? 1 : 0;
    }
    return { x: { nRows: n, names: cols.map((_, j) => `x${j}`), columns: cols }, y };
  }

  it('scores a forest + boosted blend from its published parts, with no sequences, and merges both reasons', async () => {
    const { x, y } = data(3000, 3);
    const forest = createClassifier('forest', { nTrees: 20, maxDepth: 6 }, 1);
    const boosted = new BoostedTrees({ nRounds: 30 }, 1, 1);
    await forest.fit(x, y);
    await boosted.fit(x, y);
    const payload: BlendPayload = {
      weights: { forest: 0.5, boosted: 0.5 },
      combine: 'logit',
      parts: { forest: forest.serialize(), boosted: boosted.serialize() },
    };
    const scorer = await loadScorer({ engine: 'blend', formatVersion: 1, featureNames: x.names, payload });
    assert.equal(scorer.needsSequences, false, 'a blend without the LSTM reads no sequences');
    const ids = Array.from({ length: x.nRows }, (_, i) => String(i));
    const p = scorer.predict({ x, ids });
    const pf = forest.predictProba(x);
    const pb = boosted.predictProba(x);
    for (let i = 0; i < x.nRows; i++) assert.ok(Math.abs(p[i] - blendOf([pf[i], pb[i]], [0.5, 0.5], 'logit')) < 1e-12);
    // Between its parts, and not the same as either.
    let between = 0;
    for (let i = 0; i < x.nRows; i++)
      if (p[i] >= Math.min(pf[i], pb[i]) - 1e-12 && p[i] <= Math.max(pf[i], pb[i]) + 1e-12) between++;
    assert.equal(between, x.nRows);
    const e = scorer.explain!({ x, ids: ids.slice(0, 50) }, 3);
    assert.equal(e.names.length, 50);
    // Reasons are the features that raised a user's score (a user below the average may have none).
    assert.ok(e.names.every((r) => r.every((nm) => x.names.includes(nm))));
    assert.ok(e.names.filter((r) => r.length > 0).length >= 10, 'most users above the average have reasons');
    scorer.dispose();
  });

  it('weights k parts equally on the log-odds scale', () => {
    assert.ok(Math.abs(blendOf([0.2, 0.5, 0.8], [1 / 3, 1 / 3, 1 / 3], 'logit') - 0.5) < 1e-12);
    assert.equal(blendOf([0.2, 0.6], [0.5, 0.5]), 0.4);
  });

  it('defaults to the forest and the LSTM, takes boosted, refuses one part or the same engine twice', () => {
    assert.deepEqual(modelSpec.parse({}).blend.parts, ['forest', 'lstm']);
    assert.deepEqual(modelSpec.parse({ blend: { parts: ['boosted', 'lstm'] } }).blend.parts, ['boosted', 'lstm']);
    assert.equal(modelSpec.safeParse({ blend: { parts: ['forest'] } }).success, false);
    assert.equal(modelSpec.safeParse({ blend: { parts: ['forest', 'forest'] } }).success, false);
    assert.equal(modelSpec.safeParse({ blend: { parts: ['forest', 'auto'] } }).success, false);
  });
});
