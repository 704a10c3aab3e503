/**
 * The training steps of a run, workflow-side: check there is something to learn, cross-validate (choosing the
 * engine first when it is "auto"), then train the holdout model with its baselines, blend parts and churn model.
 * Every fold and model is an activity of its own on the CPU queue, so they spread over workers and retry alone.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { DEFAULT_SEARCH_SPACES, searchTrials } from '../../ml/search';
import { chooseEngine, searchParams } from '../auto';
import { allStopped } from '../settle';
import type { CvSummary, EngineSelection, FeatureRef, ParamSearch, RunInput, RunPlan, TrainResult } from '../types';
import type { RunContext } from './context';
import { tagWorkflow } from '../tags';

type TrainArgs = Parameters<Activities['trainModel']>[0];
/** What every training call of a run shares: the training table and the model section of the definition. */
export type TrainCommon = Omit<TrainArgs, 'engine' | 'split'>;
type Split = TrainArgs['split'];

/** "fold 2/5" of a CV split (the holdout is named by the caller). */
const foldName = (s: Split) => ('i' in s ? `fold ${s.i + 1}/${s.k}` : s.kind);

/** Fails the run (not retryable) when the training table has no observed outcomes or only one class. */
export function requireTrainable(plan: RunPlan, trainSet: FeatureRef, trigger: RunInput['trigger']): void {
  const { loaded, extract, run } = plan;
  const horizon = loaded.definition.label.horizon;
  // No observed outcomes, or nobody active before the training cutoff (the data is shorter than one horizon).
  if (!trainSet.labelled || trainSet.users === 0) {
    throw ApplicationFailure.nonRetryable(
      (trainSet.labelled
        ? `No user has events before the training cutoff ${run.trainingCutoff} `
        : `The label horizon ${horizon} after cutoff ${run.trainingCutoff} has not passed in the loaded data `) +
        `(last event ${extract.maxTs}), so there is nothing to train on. ` +
        (trigger === 'schedule'
          ? `A scheduled run needs events over more than one horizon (${horizon}) before its cutoff ${run.cutoff}.`
          : 'Pick an earlier --cutoff.'),
      'NoLabels',
    );
  }
  if (trainSet.positives === 0 || trainSet.positives === trainSet.users) {
    throw ApplicationFailure.nonRetryable(
      `All ${trainSet.users} users have label ${trainSet.positives === 0 ? 0 : 1} at cutoff ${run.trainingCutoff}; ` +
        `a model needs both classes. Pick another cutoff or horizon.`,
      'OneClass',
    );
  }
}

/**
 * The definition's folds. Rolling time splits: fold i trains on the features at T − (k − i)·h and validates on the
 * cutoff one horizon later, so every fold predicts a future it has not seen (T = the training cutoff, h = horizon).
 */
export async function cvSplits(ctx: RunContext, plan: RunPlan, trainSet: FeatureRef): Promise<Split[]> {
  const { loaded, run } = plan;
  const { strategy, folds: k } = loaded.definition.cv;
  if (strategy === 'none') return [];
  if (strategy !== 'time') return Array.from({ length: k }, (_, i) => ({ kind: 'fold' as const, strategy, k, i }));
  const t = Date.parse(run.trainingCutoff);
  const cutoffs = Array.from({ length: k + 1 }, (_, j) => new Date(t - (k - j) * run.horizonMs).toISOString());
  const tables = await allStopped(
    cutoffs.map((c, j) =>
      j === k
        ? Promise.resolve(trainSet)
        : ctx.io.buildFeatures({ loaded, cutoff: c, runDir: run.runDir, folder: `cv/${c.replace(/[-:.]/g, '')}` }),
    ),
  );
  return Array.from({ length: k }, (_, i) => ({
    kind: 'time' as const,
    k,
    i,
    trainFeaturesPath: tables[i].featuresPath,
    validFeaturesPath: tables[i + 1].featuresPath,
  }));
}

export interface CrossValidated {
  engine: string;
  selection: EngineSelection | null;
  cv: CvSummary | null;
  /** model.search: the trials, and the model section with the kept trial's settings (the definition's without). */
  search: ParamSearch | null;
  model: TrainCommon['model'];
}

/**
 * model.search: the engine's settings tuned on the run's folds (workflows/auto.ts); the kept trial's settings and
 * the variant naming its fold files, so the CV step below reuses its folds.
 */
async function searchSettings(ctx: RunContext, plan: RunPlan, common: TrainCommon, engine: string, splits: Split[]) {
  const def = plan.loaded.definition;
  const want = def.model.search;
  if (!want || !splits.length || !DEFAULT_SEARCH_SPACES[engine])
    return { search: null, model: common.model, variant: null };
  ctx.step('cross-validate', `searching ${engine} settings (${want.trials} trials, seed ${want.seed})`);
  const current = def.model[engine as 'forest'] as Record<string, unknown>;
  const space = want.space
    ? Object.fromEntries(Object.entries(want.space).filter(([k]) => k in current))
    : DEFAULT_SEARCH_SPACES[engine];
  return searchParams(
    {
      engine,
      model: common.model,
      trials: searchTrials(space, want.trials, want.seed, current),
      seed: want.seed,
      budgetMs: want.budgetMinutes * 60_000,
      metric: def.registry.primaryMetric,
      splits,
    },
    {
      trainFold: (model, variant, split) =>
        ctx.trainAs(`${foldName(split as Split)} · ${engine} · ${variant ?? 'defined settings'}`)({
          ...common,
          model,
          engine,
          split: split as Split,
          ...(variant ? { variant } : {}),
        }),
      summarise: (results) => ctx.io.summariseFolds({ strategy: def.cv.strategy, results }),
      now: () => Date.now(),
      all: (folds) => allStopped(folds),
    },
  );
}

/** "auto": cross-validates the candidates and goes on with the best; then the chosen engine's folds. */
export async function crossValidate(
  ctx: RunContext,
  plan: RunPlan,
  common: TrainCommon,
  splits: Split[],
): Promise<CrossValidated> {
  const def = plan.loaded.definition;
  let engine: string = def.model.engine;
  let selection: EngineSelection | null = null;
  if (engine === 'auto') {
    ctx.step('cross-validate', `choosing among ${def.model.auto.candidates.join(', ')}`);
    selection = await chooseEngine(
      {
        candidates: def.model.auto.candidates,
        budgetMs: def.model.auto.budgetMinutes * 60_000,
        metric: def.registry.primaryMetric,
        splits,
      },
      {
        trainFold: (e, split) =>
          ctx.trainAs(`auto: ${foldName(split as Split)} · ${e}`)({
            ...common,
            engine: e,
            split: split as Split,
          }),
        summarise: (_e, results) => ctx.io.summariseFolds({ strategy: def.cv.strategy, results }),
        now: () => Date.now(),
        all: (folds) => allStopped(folds),
      },
    );
    engine = selection.chosen;
    tagWorkflow({ engine });
  }
  const { search, model, variant } = await searchSettings(ctx, plan, common, engine, splits);
  if (!splits.length) return { engine, selection, cv: null, search, model };
  ctx.progress.foldsTotal = splits.length;
  ctx.step('cross-validate', `${splits.length} folds (${def.cv.strategy})`);
  const folds = await allStopped(
    splits.map((split) =>
      ctx
        .trainAs(`${foldName(split)} · ${engine}`)({ ...common, model, engine, split, ...(variant ? { variant } : {}) })
        .then((r) => {
          ctx.progress.foldsDone++;
          return r;
        }),
    ),
  );
  const cv = await ctx.io.summariseFolds({ strategy: def.cv.strategy, results: folds });
  return { engine, selection, cv, search, model };
}

export interface HoldoutModels {
  main: TrainResult;
  baselines: TrainResult[];
  churn: TrainResult | null;
  /** False when the churn table is all one class (the summary says so). */
  churnTrainable: boolean;
}

/** The model to publish, its baselines and blend parts, and the churn model, trained side by side. */
export async function trainHoldout(
  ctx: RunContext,
  plan: RunPlan,
  common: TrainCommon,
  engine: string,
  trainSet: FeatureRef,
  /** Whether this enters the `train` step (not when trained beside the folds: the caller enters it after them). */
  enterStep = true,
): Promise<HoldoutModels> {
  const def = plan.loaded.definition;
  if (enterStep) ctx.step('train', `${engine} + baselines ${def.model.baselines.join(', ') || 'none'}`);
  const holdout = { kind: 'holdout' as const };
  // The blend's parts are trained first (in parallel, as activities of their own) and reported as baselines; the
  // blend activity then reuses their results and only averages.
  const train = (e: string) =>
    ctx.trainAs(e === engine ? `holdout · ${e}` : `holdout · ${e} (baseline)`)({
      ...common,
      engine: e,
      split: holdout,
    });
  const parts: string[] = engine === 'blend' ? [...(def.model.blend?.parts ?? ['forest', 'lstm'])] : [];
  const partsDone = allStopped(parts.map(train));
  // The churn-risk model (when the pipeline defines churn): a forest on the customers' rows, trained alongside.
  const churnSet = trainSet.churn;
  const churnTrainable = !!churnSet && churnSet.positives > 0 && churnSet.positives < churnSet.users;
  const [partResults, otherResults, main, churn] = await allStopped([
    partsDone,
    allStopped(def.model.baselines.filter((b) => b !== engine && !parts.includes(b)).map(train)),
    partsDone.then(() => train(engine)),
    churnTrainable
      ? ctx.trainAs('holdout · forest (churn risk)')({
          ...common,
          featuresPath: churnSet.featuresPath,
          engine: 'forest',
          split: holdout,
          target: 'churn',
        })
      : Promise.resolve(null),
  ]);
  return { main, baselines: [...partResults, ...otherResults], churn, churnTrainable };
}
