import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FeatureMatrix } from '../../../ml/classifier';
import { boostedSums, keyOf } from '../../../ml/boosted/predict';
import { explainTrees, predictTrees } from '../../../ml/forest/predictor';
import type { PredictTree } from '../../../ml/forest/serialize';

const f32 = new Float32Array(1);
const bits = (v: number) => ((f32[0] = v), new Int32Array(f32.buffer)[0]);
/** Float32 values around every edge of the comparison: infinities, ±0, subnormals, neighbours of the thresholds. */
const EDGES = [-Infinity, -3.4e38, -2.5, -1.5, -1e-45, -0, 0, 1e-45, 1.1754942e-38, 1.5, 2.5, 3.4e38, Infinity];
const values = [NaN, ...EDGES.flatMap((v) => [v, v * (1 + 2 ** -23), v * (1 - 2 ** -23)])].map(Math.fround);

/** A stump on feature j: `v > t` (or missing, when missing goes right) goes right to 2^k, left to 0. */
function stump(j: number, t: number, missingLeft: boolean, k: number): PredictTree {
  return {
    feature: Int32Array.of(j, -1, -1),
    threshold: Float32Array.of(t, 0, 0),
    missingLeft: Uint8Array.of(missingLeft ? 1 : 0, 0, 0),
    left: Int32Array.of(1, -1, -1),
    right: Int32Array.of(2, -1, -1),
    value: Float32Array.of(0, 0, 2 ** k),
  };
}

describe('boosted prediction: integer keys', () => {
  it('orders keys as float32 values compare (−0 = +0), NaN below every value', () => {
    for (const a of values)
      for (const b of values) {
        if (Number.isNaN(a)) {
          if (!Number.isNaN(b)) assert.ok(keyOf(bits(a)) < keyOf(bits(b)), `NaN below ${b}`);
          continue;
        }
        if (Number.isNaN(b)) continue;
        assert.equal(keyOf(bits(a)) > keyOf(bits(b)), a > b, `${a} > ${b}`);
        assert.equal(keyOf(bits(a)) === keyOf(bits(b)), a === b, `${a} = ${b}`);
      }
  });

  it('sends every value where the float comparison does, on either missing side, NaN thresholds included', () => {
    // One stump per (threshold, missing side), each adding its own power of two when its row goes right: a row's
    // sum spells out every stump's decision. Rows: every edge value, on each of two features.
    const thresholds = [NaN, ...EDGES];
    const trees = thresholds.flatMap((t, i) => [stump(i % 2, t, true, 2 * i), stump(1 - (i % 2), t, false, 2 * i + 1)]);
    const n = values.length * 2 + 3;
    const x: FeatureMatrix = {
      nRows: n,
      names: ['a', 'b'],
      columns: [
        Float32Array.from({ length: n }, (_, r) => values[r % values.length]),
        Float32Array.from({ length: n }, (_, r) => values[(r * 7 + 3) % values.length]),
      ],
    };
    assert.ok(n % 8 !== 0, 'rows in groups of eight and a tail');
    const ours = boostedSums(trees, x);
    const forest = predictTrees(trees, x);
    // predictTrees returns the mean of the same sum.
    for (let r = 0; r < n; r++) assert.equal(ours[r] / trees.length, forest[r], `row ${r}`);
  });

  it('walks deeper lopsided trees on many features as the forest kernel does, whatever batch came before', () => {
    // A chain down the left side, splits alternating between features and missing sides.
    const depth = 9;
    const nodes = 2 * depth + 1;
    const tree = (shift: number): PredictTree => {
      const t: PredictTree = {
        feature: new Int32Array(nodes).fill(-1),
        threshold: new Float32Array(nodes),
        missingLeft: new Uint8Array(nodes),
        left: new Int32Array(nodes).fill(-1),
        right: new Int32Array(nodes).fill(-1),
        value: Float32Array.from({ length: nodes }, (_, i) => Math.fround((i + shift) / 7)),
      };
      for (let d = 0; d < depth; d++) {
        const i = 2 * d;
        t.feature[i] = (d + shift) % 5;
        t.threshold[i] = EDGES[(3 * d + shift) % EDGES.length];
        t.missingLeft[i] = (d + shift) % 3 === 0 ? 1 : 0;
        t.left[i] = i + 2;
        t.right[i] = i + 1;
      }
      return t;
    };
    const trees = Array.from({ length: 6 }, (_, s) => tree(s));
    const batch = (n: number, seed: number): FeatureMatrix => ({
      nRows: n,
      names: ['a', 'b', 'c', 'd', 'e'],
      columns: Array.from({ length: 5 }, (_, j) =>
        Float32Array.from({ length: n }, (_, r) => values[(r * (j + seed) + j) % values.length]),
      ),
    });
    const small = batch(29, 3);
    const before = predictTrees(trees, small);
    const why = explainTrees(trees, small, 2);
    boostedSums(trees, batch(3001, 5)); // a larger batch on the same thread: its buffers are reused after
    const ours = boostedSums(trees, small);
    for (let r = 0; r < small.nRows; r++) assert.equal(ours[r] / trees.length, before[r], `row ${r}`);
    assert.deepEqual(Array.from(predictTrees(trees, small)), Array.from(before), 'the forest kernel after it');
    assert.deepEqual(explainTrees(trees, small, 2), why, 'explanations after it');
  });
});
