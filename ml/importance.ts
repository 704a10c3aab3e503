/**
 * Permutation importance: how much a metric drops when one feature's values are shuffled (on held-out rows),
 * averaged over a few seeded repeats. Model-agnostic, so it works for every Classifier and is comparable across
 * engines, unlike impurity importances (which favour high-cardinality features).
 */
import type { Classifier, FeatureMatrix } from './classifier';
import { selectLabels, selectRows } from './classifier';
import { rocAuc } from './metrics';
import { mulberry32, shuffle } from './random';
import { setImmediate as nextTurn } from 'node:timers/promises';

export interface PermutationImportance {
  name: string;
  importance: number;
  std: number;
}

type ImportanceOptions = {
  seed?: number;
  repeats?: number;
  maxRows?: number;
  metric?: (y: ArrayLike<number>, p: ArrayLike<number>) => number;
};

export function permutationImportance(
  model: Pick<Classifier, 'predictProba'>,
  x: FeatureMatrix,
  y: Uint8Array,
  opts: ImportanceOptions = {},
): PermutationImportance[] {
  const run = permutationSteps(model, x, y, opts);
  let r = run.next();
  while (!r.done) r = run.next();
  return r.value;
}

/**
 * The same importances (same seed, same values), giving the event loop a turn after each feature and calling
 * `onFeature(done, total)`: 35 features × 3 repeats of predicting 20,000 rows held a training activity's thread
 * long enough for its heartbeat to time out on a busy machine (issue 17).
 */
export async function permutationImportanceAsync(
  model: Pick<Classifier, 'predictProba'>,
  x: FeatureMatrix,
  y: Uint8Array,
  opts: ImportanceOptions & { onFeature?: (done: number, total: number) => void } = {},
): Promise<PermutationImportance[]> {
  const run = permutationSteps(model, x, y, opts);
  let r = run.next();
  for (let done = 1; !r.done; done++) {
    opts.onFeature?.(done, x.names.length);
    await nextTurn();
    r = run.next();
  }
  return r.value;
}

/** Yields after each feature; returns the importances, most important first. */
function* permutationSteps(
  model: Pick<Classifier, 'predictProba'>,
  x: FeatureMatrix,
  y: Uint8Array,
  opts: ImportanceOptions,
): Generator<void, PermutationImportance[]> {
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
  const out: PermutationImportance[] = [];
  for (let j = 0; j < xs.names.length; j++) {
    const drops: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const permuted = shuffle(Float32Array.from(xs.columns[j]), rng);
      const columns = xs.columns.map((c, k) => (k === j ? permuted : c));
      drops.push(base - metric(ys, model.predictProba({ ...xs, columns })));
    }
    const m = drops.reduce((a, b) => a + b, 0) / repeats;
    out.push({
      name: xs.names[j],
      importance: m,
      std: Math.sqrt(drops.reduce((a, b) => a + (b - m) ** 2, 0) / repeats),
    });
    yield;
  }
  return out.sort((a, b) => b.importance - a.importance);
}
