import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { argsortScores } from '../../../ml/argsort';
import { stratifiedKFold } from '../../../ml/cv';
import { mulberry32, shuffle } from '../../../ml/random';

/** The comparator sorts the metrics used before the radix sort: the order they defined. */
const byComparator = (p: ArrayLike<number>, descending: boolean) =>
  Uint32Array.from({ length: p.length }, (_, i) => i).sort((a, b) =>
    descending ? p[b] - p[a] || a - b : p[a] - p[b] || a - b,
  );

/** Scores with many ties, both zeros, negatives, tiny and huge values, as Float32 and Float64 values. */
function scores(n: number, seed: number): Float64Array {
  const rng = mulberry32(seed);
  const special = [0, -0, 1, -1, 1e-300, -1e-300, 1e300, 0.5, Math.fround(0.1), 0.1, -Infinity, Infinity];
  return Float64Array.from({ length: n }, () => {
    const u = rng();
    if (u < 0.2) return special[Math.floor(rng() * special.length)];
    if (u < 0.5) return Math.round(rng() * 20) / 20; // ties
    return (rng() - 0.3) * 10 ** Math.floor(rng() * 8 - 4);
  });
}

describe('argsortScores', () => {
  it('gives exactly the comparator order, descending and ascending, ties by ascending index', () => {
    for (const n of [0, 1, 2, 3, 17, 1000, 50_000]) {
      const p = scores(n, n + 1);
      for (const descending of [true, false])
        assert.deepEqual(argsortScores(p, descending), byComparator(p, descending), `n=${n} desc=${descending}`);
    }
  });

  it('orders plain arrays and constant scores (a pass with one digit value moves nothing)', () => {
    assert.deepEqual(Array.from(argsortScores([0.3, 0.3, 0.3], true)), [0, 1, 2]);
    assert.deepEqual(Array.from(argsortScores([0.2, 0.9, 0.5, 0.9], true)), [1, 3, 2, 0]);
  });
});

/** stratifiedKFold as it was written before the fold-of-row version, to check the sets are the same. */
function kFoldReference(y: Uint8Array, k: number, seed: number) {
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < y.length; i++) (y[i] === 1 ? pos : neg).push(i);
  const rng = mulberry32(seed);
  const classes = [shuffle(Uint32Array.from(neg), rng), shuffle(Uint32Array.from(pos), rng)];
  const testOf: number[][] = Array.from({ length: k }, () => []);
  for (const c of classes) c.forEach((row, j) => testOf[j % k].push(row));
  return testOf.map((test, i) => ({
    train: Uint32Array.from(testOf.flatMap((t, j) => (j === i ? [] : t))).sort(),
    test: Uint32Array.from(test).sort(),
  }));
}

describe('stratifiedKFold', () => {
  it('gives the same train and test rows as the sorting version', () => {
    const rng = mulberry32(7);
    for (const [n, rate, k] of [
      [30, 0.3, 3],
      [10_007, 0.01, 3],
      [5_000, 0.5, 5],
      [400, 0.1, 10],
    ] as const) {
      const y = Uint8Array.from({ length: n }, () => (rng() < rate ? 1 : 0));
      assert.deepEqual(stratifiedKFold(y, k, 42), kFoldReference(y, k, 42), `n=${n} k=${k}`);
    }
  });
});
