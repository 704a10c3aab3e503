/**
 * `model.engine: "auto"`: cross-validate each candidate engine on the run's folds, in order, within the
 * definition's time budget, and pick the best by the registry's primary metric. Workflow code (deterministic:
 * workflow time, no I/O); the folds are ordinary training activities, so the chosen engine's folds are reused by
 * the cross-validation step that follows, not trained again.
 */
import type { Trial } from '../ml/search';
import type { CvSummary, EngineSelection, ParamSearch, TrainResult } from './types';

type Split = Record<string, unknown> & { kind: string };

export interface ChooseEngineDeps {
  trainFold: (engine: string, split: Split) => Promise<TrainResult>;
  summarise: (engine: string, results: TrainResult[]) => Promise<CvSummary>;
  /** Workflow time in ms (Date.now() inside a workflow is replay-safe). */
  now: () => number;
  /** Waits for a candidate's folds (the workflow passes allStopped, so a cancel waits for every fold to stop). */
  all?: (folds: Promise<TrainResult>[]) => Promise<TrainResult[]>;
}

/** log loss and Brier: lower is better; ROC and PR AUC: higher. */
export const LOWER_IS_BETTER = new Set(['log_loss', 'brier']);

export async function chooseEngine(
  o: { candidates: string[]; budgetMs: number; metric: string; splits: Split[] },
  deps: ChooseEngineDeps,
): Promise<EngineSelection> {
  const started = deps.now();
  const tried: EngineSelection['candidates'] = [];
  const skipped: string[] = [];
  for (const engine of o.candidates) {
    // The first candidate always runs; later ones only while the budget lasts (a stated skip, not a silent one).
    if (tried.length > 0 && deps.now() - started >= o.budgetMs) {
      skipped.push(engine);
      continue;
    }
    const t0 = deps.now();
    const folds = await (deps.all ?? ((p) => Promise.all(p)))(o.splits.map((s) => deps.trainFold(engine, s)));
    const cv = await deps.summarise(engine, folds);
    tried.push({ engine, mean: cv.mean[o.metric], std: cv.std[o.metric], seconds: (deps.now() - t0) / 1000 });
  }
  const sign = LOWER_IS_BETTER.has(o.metric) ? -1 : 1;
  // Ties keep the earlier candidate (the definition's order is the preference order).
  const best = tried.reduce((a, b) => (sign * (b.mean - a.mean) > 0 ? b : a));
  return { metric: o.metric, chosen: best.engine, candidates: tried, skipped, budgetSeconds: o.budgetMs / 1000 };
}

export interface SearchDeps<M> {
  /** One fold of one trial: `model` carries the trial's settings, `variant` names its files apart. */
  trainFold: (model: M, variant: string | null, split: Split) => Promise<TrainResult>;
  summarise: (results: TrainResult[]) => Promise<CvSummary>;
  now: () => number;
  all?: (folds: Promise<TrainResult>[]) => Promise<TrainResult[]>;
}

/**
 * `model.search` for the chosen engine: each trial (ml/search.ts) is cross-validated on the run's folds while the
 * budget lasts (trial 0, the definition's settings, always), and the best by the primary metric is returned with
 * the model settings that carry it. Workflow code: deterministic, workflow time only.
 */
export async function searchParams<M extends Record<string, unknown>>(
  o: { engine: string; model: M; trials: Trial[]; seed: number; budgetMs: number; metric: string; splits: Split[] },
  deps: SearchDeps<M>,
): Promise<{ search: ParamSearch; model: M; variant: string | null }> {
  const started = deps.now();
  const withTrial = (t: Trial) => ({ ...o.model, [o.engine]: { ...(o.model[o.engine] as object), ...t.params } }) as M;
  const done: ParamSearch['trials'] = [];
  for (const t of o.trials) {
    if (done.length > 0 && deps.now() - started >= o.budgetMs) break;
    const t0 = deps.now();
    const m = withTrial(t);
    const folds = await (deps.all ?? ((p) => Promise.all(p)))(o.splits.map((s) => deps.trainFold(m, t.variant, s)));
    const cv = await deps.summarise(folds);
    done.push({ params: t.params, mean: cv.mean[o.metric], std: cv.std[o.metric], seconds: (deps.now() - t0) / 1000 });
  }
  const sign = LOWER_IS_BETTER.has(o.metric) ? -1 : 1;
  // Ties keep the earlier trial (the definition's settings first).
  let chosen = 0;
  done.forEach((t, i) => {
    if (sign * (t.mean - done[chosen].mean) > 0) chosen = i;
  });
  return {
    search: {
      engine: o.engine,
      metric: o.metric,
      seed: o.seed,
      chosen,
      trials: done,
      skipped: o.trials.length - done.length,
      budgetSeconds: o.budgetMs / 1000,
    },
    model: withTrial(o.trials[chosen]),
    variant: o.trials[chosen].variant,
  };
}
