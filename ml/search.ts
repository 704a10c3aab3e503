/**
 * `model.search`: a small random search over one engine's hyper-parameters, scored on the run's CV folds. Pure
 * and deterministic (the retrain workflow imports it): trial 0 is the definition's own settings, so a search can
 * only keep or improve the cross-validated metric, and trial i ≥ 1 draws every parameter from
 * mulberry32(deriveSeed(seed, i)) alone, so the same seed gives the same trials in any order or on replay.
 */
import { deriveSeed, mulberry32 } from './random';

/** A parameter's values: a list to pick from, or a range (log-uniform when `log`, whole numbers when `int`). */
export type SearchDimension = (number | string)[] | { min: number; max: number; log?: boolean; int?: boolean };
export type SearchSpace = Record<string, SearchDimension>;

/** Engines a search can tune, and the space searched when the definition gives none. */
export const DEFAULT_SEARCH_SPACES: Record<string, SearchSpace> = {
  boosted: {
    numLeaves: [7, 15, 31, 63, 127],
    learningRate: { min: 0.02, max: 0.2, log: true },
    minDataInLeaf: [5, 10, 20, 50, 100],
    featureSubsample: [0.6, 0.8, 1],
    l2: [0, 0.1, 1, 10],
  },
  forest: {
    maxDepth: [8, 12, 16, 24],
    minSamplesLeaf: [1, 2, 5, 10, 20],
    maxFeatures: ['sqrt', 'log2'],
  },
  logistic: { l2: { min: 0.01, max: 100, log: true } },
};

export interface Trial {
  /** Trial 0: the definition's settings (no variant: its folds are the run's ordinary CV folds). */
  variant: string | null;
  params: Record<string, number | string>;
}

function draw(d: SearchDimension, rng: () => number): number | string {
  if (Array.isArray(d)) return d[Math.min(d.length - 1, Math.floor(rng() * d.length))];
  const u = rng();
  const v = d.log ? Math.exp(Math.log(d.min) + u * (Math.log(d.max) - Math.log(d.min))) : d.min + u * (d.max - d.min);
  // Rounded to 4 significant digits so the settings read well in the report.
  return d.int ? Math.round(v) : Number(v.toPrecision(4));
}

/** The trials of a search: the definition's settings first, then `n − 1` draws from the space. */
export function searchTrials(space: SearchSpace, n: number, seed: number, current: Record<string, unknown>): Trial[] {
  const names = Object.keys(space).sort();
  const trials: Trial[] = [{ variant: null, params: Object.fromEntries(names.map((k) => [k, current[k] as number])) }];
  for (let i = 1; i < n; i++) {
    const rng = mulberry32(deriveSeed(seed, i));
    trials.push({
      variant: `search${seed}-t${i}`,
      params: Object.fromEntries(names.map((k) => [k, draw(space[k], rng)])),
    });
  }
  return trials;
}
