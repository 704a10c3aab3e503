/**
 * Permutation importance: how much a metric drops when one feature's values are shuffled (on held-out rows),
 * averaged over a few seeded repeats. Model-agnostic, so it works for every Classifier and is comparable across
 * engines, unlike impurity importances (which favour high-cardinality features).
 */
import type { Classifier, FeatureMatrix } from './classifier';
import { selectLabels, selectRows } from './classifier';
import { rocAuc } from './metrics';
import { mulberry32, shuffle } from './random';

export interface PermutationImportance {
  name: string;
  importance: number;
  std: number;
}

export function permutationImportance(
  model: Pick<Classifier, 'predictProba'>,
  x: FeatureMatrix,
  y: Uint8Array,
  opts: {
    seed?: number;
    repeats?: number;
    maxRows?: number;
    metric?: (y: ArrayLike<number>, p: ArrayLike<number>) => number;
  } = {},
): PermutationImportance[] {
  const metric = opts.metric ?? rocAuc;
  const rng = mulberry32(opts.seed ?? 1);
  const maxRows = opts.maxRows ?? 20_000;
  let xs = x;
  let ys = y;
  if (x.nRows > maxRows) {
    const idx = shuffle(
      Uint32Array.from({ length: x.nRows }, (_, i) => i),
      rng,
    )
      .subarray(0, maxRows)
      .sort();
    xs = selectRows(x, idx);
    ys = selectLabels(y, idx);
  }
  const base = metric(ys, model.predictProba(xs));
  const repeats = opts.repeats ?? 3;
  return xs.names
    .map((name, j) => {
      const drops: number[] = [];
      for (let r = 0; r < repeats; r++) {
        const permuted = shuffle(Float32Array.from(xs.columns[j]), rng);
        const columns = xs.columns.map((c, k) => (k === j ? permuted : c));
        drops.push(base - metric(ys, model.predictProba({ ...xs, columns })));
      }
      const m = drops.reduce((a, b) => a + b, 0) / repeats;
      return { name, importance: m, std: Math.sqrt(drops.reduce((a, b) => a + (b - m) ** 2, 0) / repeats) };
    })
    .sort((a, b) => b.importance - a.importance);
}
