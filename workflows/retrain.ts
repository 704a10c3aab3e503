/**
 * The retraining pipeline, read top to bottom as named steps:
 *
 *   definition → extract → cutoff → features → ┬ cv fold 1 ┐
 *                                               ├ cv fold … ┼→ train (holdout) + baselines → publish → score → segments/exports → report
 *                                               └ cv fold k ┘
 *
 * Deterministic orchestration only: every step is an activity that returns references (paths, counts, metrics).
 * Folds fan out as separate activities so they spread over workers and a failed fold retries alone. The steps'
 * workflow-side code is in workflows/run/ (context, training, lists, summary); this function only sequences them.
 */
import { defineQuery, patched, setHandler } from '@temporalio/workflow';
import { planRun } from './plan';
import { runContext, STEPS, type RunContext } from './run/context';
import {
  crossValidate,
  cvSplits,
  requireTrainable,
  trainHoldout,
  type CrossValidated,
  type HoldoutModels,
  type TrainCommon,
} from './run/train';
import { noLists, scoreAndDeliver } from './run/lists';
import { runSummary } from './run/summary';
import { runKind } from '../infra/search-attribute-keys';
import { tagWorkflow, withOutcome } from './tags';
import { allStopped } from './settle';
import { driftGate } from './run/drift';
import type { FeatureRef, RunInput, RunPlan, RunSummary, StepProgress } from './types';

export const progressQuery = defineQuery<StepProgress>('progress');

export async function retrainWorkflow(input: RunInput): Promise<RunSummary> {
  return withOutcome(() => retrainSteps(input));
}

async function retrainSteps(input: RunInput): Promise<RunSummary> {
  const ctx = runContext(input);
  const { io, progress, step } = ctx;
  setHandler(progressQuery, () => progress);

  // Planned by the caller (workflows/start.ts, backfill: workflow id = run id) or, when started directly, here.
  const plan = input.plan ?? (await planRun(input, step));
  const { loaded, extract, run } = plan;
  const def = loaded.definition;
  progress.rows = extract.read;
  progress.runId = run.runId;
  progress.cutoff = run.cutoff;
  const kind = runKind(input.trigger, input.rerun?.of);
  tagWorkflow({ pipeline: def.name, cutoff: run.cutoff, kind, engine: def.model.engine, outcome: 'running' });

  const { features, trainSet } = await featureSets(ctx, plan, input);
  const { earlyMeasurement, uplift, nextBest, clv } = await beforeTraining(ctx, plan, input, features, trainSet);
  const { crossValidated, models } = await trainModels(ctx, plan, trainSet);
  const { publish, drift } = await publishStep(ctx, plan, input, trainSet, crossValidated, models);

  const lists = input.trainOnly
    ? noLists()
    : await scoreAndDeliver(ctx, plan, features, publish, clv, uplift?.path, drift != null);
  // What each list ranked by uplift is predicted to add, before it is sent.
  const forecast = uplift && lists.scoring ? await io.forecastUplift({ loaded, runDir: run.runDir, uplift }) : [];

  const measurement =
    earlyMeasurement ?? (input.trainOnly ? [] : await io.measureCampaigns({ loaded, runDir: run.runDir }));
  step('report');
  const summary: RunSummary = {
    ...runSummary(ctx, { plan, features, trainSet, crossValidated, models, clv, publish, lists }),
    measurement,
    uplift: uplift ? { ...uplift, forecast } : null,
    nextBestAction: nextBest,
    drift: drift && lists.scoreDrift ? { ...drift, score: lists.scoreDrift } : drift,
  };
  const finished = await io.finishRun({
    loaded,
    summary,
    trained: models.main,
    features: trainSet,
    marketer: lists.marketer,
    startedAt: progress.startedAt,
  });
  progress.stepsDone = STEPS.length;
  progress.step = 'done';
  return { ...finished, eventLoop: ctx.eventLoop }; // with the report step's own delay
}

/**
 * The features at the cutoff (everyone is scored on them) and at the training cutoff. Every run behaves as the live
 * run on its date would have: it trains one horizon earlier (the last cutoff whose outcomes were observed on that
 * date) and scores everyone at the cutoff, out of sample. When the outcomes after the cutoff are known (a past
 * cutoff), the lists' realised conversions are measured too.
 */
async function featureSets(ctx: RunContext, plan: RunPlan, input: RunInput) {
  const { loaded, run } = plan;
  ctx.step('features', `cutoff ${run.cutoff}`);
  const features = await ctx.io.buildFeatures({ loaded, cutoff: run.cutoff, runDir: run.runDir });
  ctx.step('features', `training cutoff ${run.trainingCutoff} (one horizon before the cutoff ${run.cutoff})`);
  const trainSet = await ctx.io.buildFeatures({
    loaded,
    cutoff: run.trainingCutoff,
    runDir: run.runDir,
    folder: 'training-features',
  });
  requireTrainable(plan, trainSet, input.trigger);
  return { features, trainSet };
}

/**
 * Earlier sends whose measurement window has passed in the data this run loaded: lift against their control
 * groups. The uplift models of campaigns that rank by uplift learn from those sends, before any training, so a
 * campaign with nothing to learn from stops the run as bad input at once. (Runs started before this order
 * measured after the lists: the patch keeps their histories replaying.) Then customer lifetime value (when
 * defined) at the cutoff, backtested at the training cutoff: before training, so a fit that cannot be trusted
 * fails the run before anything is published.
 */
async function beforeTraining(
  ctx: RunContext,
  plan: RunPlan,
  input: RunInput,
  features: FeatureRef,
  trainSet: FeatureRef,
) {
  const { loaded, run } = plan;
  const { io, step } = ctx;
  const early = !input.trainOnly && patched('measure-and-uplift-before-training');
  if (early) step('features', 'measuring earlier sends; uplift models of campaigns that rank by uplift');
  const earlyMeasurement = early ? await io.measureCampaigns({ loaded, runDir: run.runDir }) : null;
  const uplift = early
    ? await io.trainUplift({ loaded, runId: run.runId, runDir: run.runDir, featuresPath: features.featuresPath })
    : null;
  const nextBest = early ? await io.nextBestAction({ loaded, runId: run.runId, runDir: run.runDir }) : null;
  const clv = loaded.definition.clv
    ? (step('features', `customer lifetime value at ${run.cutoff}`),
      await io.fitCustomerValue({
        loaded,
        runDir: run.runDir,
        cutoff: run.cutoff,
        features,
        trainingCutoff: run.trainingCutoff,
        trainingFeatures: trainSet,
      }))
    : null;
  return { earlyMeasurement, uplift, nextBest, clv };
}

/** The CV folds, and the holdout model with its baselines (and churn model). */
async function trainModels(ctx: RunContext, plan: RunPlan, trainSet: FeatureRef) {
  const def = plan.loaded.definition;
  const common: TrainCommon = {
    runDir: plan.run.runDir,
    featuresPath: trainSet.featuresPath,
    sequencesPath: trainSet.sequencesPath,
    vocabPath: trainSet.vocabPath,
    model: def.model,
  };
  const splits = await cvSplits(ctx, plan, trainSet);
  // With the engine and its settings fixed by the definition (no "auto", no model.search), nothing the holdout
  // models need comes from the folds: they train beside them, so the CPU queue's slots stay busy when the last fold
  // runs alone (10 M events: CV 98 s at 1.7 cores, then the holdout models 63 s). Runs started before replay as
  // they ran (the patch).
  const fixed = def.model.engine !== 'auto' && !def.model.search && patched('holdout-beside-folds');
  // Without folds the holdout models are all the training there is: they enter the train step as they start.
  const beside = fixed ? trainHoldout(ctx, plan, common, def.model.engine, trainSet, splits.length === 0) : null;
  const [crossValidated, besideModels] = await allStopped([
    crossValidate(ctx, plan, common, splits),
    beside ?? Promise.resolve(null),
  ] as const);
  if (beside && splits.length) ctx.step('train', `${def.model.engine} + baselines (trained beside the folds)`);
  // The chosen engine trains with the settings model.search kept (the definition's when there was no search).
  const models =
    besideModels ??
    (await trainHoldout(ctx, plan, { ...common, model: crossValidated.model }, crossValidated.engine, trainSet));
  return { crossValidated, models };
}

/** The drift gate, then publishing (the champion gate decides whether the new version becomes champion). */
async function publishStep(
  ctx: RunContext,
  plan: RunPlan,
  input: RunInput,
  trainSet: FeatureRef,
  crossValidated: CrossValidated,
  models: HoldoutModels,
) {
  const { loaded, run, extract } = plan;
  // A rerun from a later step on the same inputs keeps the origin's decision (and the version it scored with).
  const reusedPublish = plan.rerun?.reused.includes('publish') ? input.rerun?.publish : null;
  // Drift against the champion blocks publishing and delivery (not for a rerun whose publish passed it already).
  const { note: driftNote, drift } = reusedPublish
    ? { note: null, drift: null }
    : await driftGate(ctx, plan, trainSet, input.trigger);
  ctx.step('publish');
  const publish =
    reusedPublish ??
    (await ctx.io.publishModel({
      loaded,
      runId: run.runId,
      cutoff: run.cutoff,
      trainingCutoff: run.trainingCutoff,
      runDir: run.runDir,
      trained: models.main,
      cv: crossValidated.cv,
      baselines: models.baselines,
      churn: models.churn,
      extract,
      features: trainSet,
      // A backfill only measures the past: its versions are backtests whatever their cutoff.
      backtest: input.trigger === 'backfill' ? 'run by a backfill' : null,
      replaceIncomparable: input.replaceIncomparable,
      driftNote,
    }));
  return { publish, drift };
}
