/** The run's summary, assembled from what its steps returned (the report step renders and stores it). */
import type { ClvRef, FeatureRef, PublishResult, RunPlan, RunSummary, TrainResult } from '../types';
import type { RunContext } from './context';
import type { Lists } from './lists';
import type { CrossValidated, HoldoutModels } from './train';

export interface SummaryParts {
  plan: RunPlan;
  features: FeatureRef;
  trainSet: FeatureRef;
  crossValidated: CrossValidated;
  models: HoldoutModels;
  clv: ClvRef | null;
  publish: PublishResult;
  lists: Lists;
}

export function runSummary(ctx: RunContext, p: SummaryParts): RunSummary {
  const { loaded, extract, run } = p.plan;
  const { main, baselines, churn, churnTrainable } = p.models;
  const churnSet = p.trainSet.churn;
  const { scoring } = p.lists;
  return {
    runId: run.runId,
    rerun: p.plan.rerun ?? null,
    pipeline: loaded.definition.name,
    cutoff: run.cutoff,
    trainingCutoff: run.trainingCutoff,
    cutoffNote: run.cutoffNote ?? null,
    horizon: loaded.definition.label.horizon,
    runDir: run.runDir,
    extract,
    features: {
      users: p.features.users,
      trainingUsers: p.trainSet.users,
      labelled: p.trainSet.labelled,
      labelRate: p.trainSet.labelRate,
      positives: p.trainSet.positives,
      featureCount: p.trainSet.featureNames.length,
      featuresPath: p.features.featuresPath,
    },
    model: {
      engine: main.engine,
      backend: main.backend,
      holdout: main.metrics,
      cv: p.crossValidated.cv,
      // A baseline's downsampled training rows are stated beside it (the logistic's, model.logistic.downsampleMajority).
      baselines: baselines.map((b: TrainResult) => ({
        engine: b.engine,
        metrics: b.metrics,
        ...(b.trainingSample ? { trainingSample: b.trainingSample } : {}),
      })),
      trainSeconds: main.trainSeconds,
      selection: p.crossValidated.selection,
      search: p.crossValidated.search,
      // The LSTM's training sample (itself, or as the blend's part), stated because it is not every user.
      lstmTrainSequences: [main, ...baselines].find((r) => r.trainSequences)?.trainSequences ?? null,
      // The forest's (itself, or as the blend's part) when it trained on a downsampled majority class.
      trainingSample:
        [main, ...baselines.filter((b) => b.engine === 'forest')].find((r) => r.trainingSample)?.trainingSample ?? null,
      churn: churnSet
        ? {
            engine: 'forest',
            users: churnSet.users,
            churnRate: churnSet.users ? churnSet.positives / churnSet.users : 0,
            metrics: churn?.metrics ?? null,
            ...(churnTrainable
              ? {}
              : { note: 'not trained: the customers at the training cutoff are all of one class' }),
          }
        : null,
    },
    clv: p.clv,
    publish: p.publish,
    scoring: scoring && {
      scoresPath: scoring.scoresPath,
      users: scoring.users,
      modelVersion: scoring.modelVersion,
      churnScored: scoring.churnScored,
    },
    exports: p.lists.exports,
    delivery: p.lists.delivery,
    webhook: p.lists.webhook,
    bucket: p.lists.bucket,
    segmentsPath: p.lists.segmentsPath,
    reportPath: null,
    manifestPath: null,
    seconds: 0,
    eventLoop: ctx.eventLoop,
  };
}
