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

/**
 * Held-out rows the importances are estimated on. Each one costs features × repeats predictions (35 × 3 at 10 M
 * events: 20,000 rows took 10 CPU-s of the holdout forest's 16), and with rare positives a uniform draw held few of
 * them (about 35 of 20,000 at a 0.17 % rate), which is what an AUC drop's precision depends on. So the ROC AUC
 * (a ranking metric, the same in expectation whatever the class mix) is estimated on every row of the rarer class
 * up to half the sample, the rest drawn from the other: at 10 M events 1,116 positives in 5,000 rows.
 */
export const DEFAULT_IMPORTANCE_ROWS = 5_000;

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

/** `maxRows` of `n` rows drawn uniformly (ascending). */
function uniformSample(n: number, maxRows: number, rng: () => number): Uint32Array {
  return shuffle(
    Uint32Array.from({ length: n }, (_, i) => i),
    rng,
  )
    .subarray(0, maxRows)
    .sort();
}

/** Every row of the rarer class up to maxRows / 2 (a seeded draw above), the rest from the other (ascending). */
export function rankingSample(y: ArrayLike<number>, maxRows: number, rng: () => number): Uint32Array {
  const byClass: number[][] = [[], []];
  for (let i = 0; i < y.length; i++) byClass[y[i] === 1 ? 1 : 0].push(i);
  const rare = byClass[1].length <= byClass[0].length ? 1 : 0;
  const nRare = Math.min(byClass[rare].length, maxRows >> 1);
  const take = (rows: number[], k: number) => shuffle(Uint32Array.from(rows), rng).subarray(0, k);
  const out = new Uint32Array(Math.min(maxRows, y.length));
  out.set(take(byClass[rare], nRare));
  out.set(take(byClass[1 - rare], out.length - nRare), nRare);
  return out.sort();
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
  const maxRows = opts.maxRows ?? DEFAULT_IMPORTANCE_ROWS;
  let xs = x;
  let ys = y;
  if (x.nRows > maxRows) {
    const idx = metric === rocAuc ? rankingSample(y, maxRows, rng) : uniformSample(x.nRows, maxRows, rng);
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
