/**
 * Scoring every user needs each one's probability and top reasons: the forest gives both from one walk of its
 * trees (issue 17: the score step walked them twice, a predict pass and a reasons pass). The probabilities are the
 * same bits as predictProba's and the reasons the same as explain's, on one thread or shared with the helpers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FeatureMatrix } from '../../../ml/classifier';
import { repeatRows, selectRows } from '../../../ml/classifier';
import { RandomForest } from '../../../ml/forest';
import { loadScorer } from '../../../ml/scorer';
import { mulberry32, normal } from '../../../ml/random';

function synthetic(n: number, seed: number): { x: FeatureMatrix; y: Uint8Array } {
  const rng = mulberry32(seed);
  const cols = Array.from({ length: 5 }, () => new Float32Array(n));
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    for (const c of cols) c[i] = normal(rng);
    y[i] = rng() < 1 / (1 + Math.exp(-(1.5 * cols[0][i] + cols[1][i] - 1))) ? 1 : 0;
    if (rng() < 0.1) cols[2][i] = NaN;
  }
  return { x: { nRows: n, names: cols.map((_, j) => `x${j}`), columns: cols }, y };
}

/** Codes back to names, row by row (−1 ends a row's reasons). */
const decode = (names: string[], codes: Int32Array, topK: number) =>
  Array.from({ length: codes.length / topK }, (_, i) =>
    Array.from(codes.subarray(i * topK, (i + 1) * topK))
      .filter((c) => c >= 0)
      .map((c) => names[c]),
  );

describe('forest scoring with reasons', () => {
  it('gives predictProba’s bits and explain’s reasons from one walk, on one thread or several', async () => {
    const { x, y } = synthetic(3000, 21);
    const f = new RandomForest({ nTrees: 30, maxDepth: 8, minSamplesLeaf: 2 }, 4);
    await f.fit(x, y);
    const small = selectRows(
      x,
      Array.from({ length: 37 }, (_, i) => i * 13),
    ); // one thread, rows not a multiple of 4
    const big = repeatRows(x, 10); // 30,000 rows × 30 trees: shared with the helper thread
    for (const m of [small, big]) {
      const r = f.scoreWithReasons(m, 3);
      assert.deepEqual(Array.from(r.p), Array.from(f.predictProba(m)));
      assert.deepEqual(decode(r.names, r.codes, 3), f.explain(m, 3).names);
    }
  });

  it('a loaded forest scores with reasons without a separate predict or explain pass', async () => {
    const { x, y } = synthetic(2000, 22);
    const f = new RandomForest({ nTrees: 20, maxDepth: 6 }, 5);
    await f.fit(x, y);
    const want = { p: f.predictProba(x), names: f.explain(x, 3).names };
    const scorer = await loadScorer(f.serialize());
    const passes = { predict: 0, explain: 0 };
    const { predictProba, explain } = RandomForest.prototype;
    RandomForest.prototype.predictProba = function (m) {
      passes.predict++;
      return predictProba.call(this, m);
    };
    RandomForest.prototype.explain = function (m, k) {
      passes.explain++;
      return explain.call(this, m, k);
    };
    try {
      const ids = Array.from({ length: x.nRows }, (_, i) => `u${i}`);
      const r = scorer.scoreWithReasons({ x, ids }, 3);
      assert.deepEqual(passes, { predict: 0, explain: 0 }, 'one walk of the trees, not a predict and an explain pass');
      assert.deepEqual(Array.from(r.p), Array.from(want.p));
      assert.deepEqual(decode(r.reasons.names, r.reasons.codes, 3), want.names);
    } finally {
      RandomForest.prototype.predictProba = predictProba;
      RandomForest.prototype.explain = explain;
    }
  });
});
