/**
 * The retraining pipeline, read top to bottom as named steps:
 *
 *   definition → extract → cutoff → features → ┬ cv fold 1 ┐
 *                                               ├ cv fold … ┼→ train (holdout) + baselines → publish → score → segments/exports → report
 *                                               └ cv fold k ┘
 *
 * Deterministic orchestration only: every step is an activity that returns references (paths, counts, metrics).
 * Folds fan out as separate activities so they spread over workers and a failed fold retries alone.
 */
import { ApplicationFailure, defineQuery, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { planRun } from './plan';
import { chooseEngine } from './auto';
import { allStopped } from './settle';
import { cpuOptions, ioOptions, measured } from './proxies';
import { deliverToBucketStep, deliverToWebhooks } from './deliver';
import type { CvSummary, EngineSelection, ExportRef, RunInput, RunSummary, StepProgress, TrainResult } from './types';

export const progressQuery = defineQuery<StepProgress>('progress');

const STEPS = [
  'definition',
  'extract',
  'features',
  'cross-validate',
  'train',
  'publish',
  'score',
  'segments',
  'report',
];

export async function retrainWorkflow(input: RunInput): Promise<RunSummary> {
  const startedMs = input.plan ? Date.parse(input.plan.plannedAt) : Date.now();
  const progress: StepProgress = {
    runId: null,
    pipeline: input.pipeline,
    cutoff: input.cutoff ?? null,
    step: 'starting',
    stepsDone: 0,
    stepsTotal: STEPS.length,
    detail: '',
    rows: 0,
    foldsDone: 0,
    foldsTotal: 0,
    startedAt: new Date(startedMs).toISOString(),
    history: [],
  };
  setHandler(progressQuery, () => progress);
  const eventLoop: NonNullable<RunSummary['eventLoop']> = { maxDelayMs: 0, byStep: {} };
  // Recorded under the step current when the activity was called.
  const begin = () => {
    const step = progress.step;
    return (ms: number) => {
      eventLoop.maxDelayMs = Math.max(eventLoop.maxDelayMs, ms);
      eventLoop.byStep[step] = Math.max(eventLoop.byStep[step] ?? 0, ms);
    };
  };
  const io = measured(proxyActivities<Activities>(ioOptions), begin);
  const training = measured(proxyActivities<Activities>(cpuOptions(workflowInfo().taskQueue)), begin);
  const step = (name: string, detail = '') => {
    progress.step = name;
    progress.detail = detail;
    progress.stepsDone = Math.max(0, STEPS.indexOf(name));
    progress.history.push({ step: name, at: new Date().toISOString(), detail });
  };

  // Planned by the caller (workflows/start.ts, backfill: workflow id = run id) or, when started directly, here.
  const { loaded, extract, run } = input.plan ?? (await planRun(input, step));
  const def = loaded.definition;
  progress.rows = extract.read;
  progress.runId = run.runId;
  progress.cutoff = run.cutoff;

  step('features', `cutoff ${run.cutoff}`);
  const features = await io.buildFeatures({ loaded, cutoff: run.cutoff, runDir: run.runDir });
  // Every run behaves as the live run on its date would have: it trains one horizon earlier (the last cutoff
  // whose outcomes were observed on that date) and scores everyone at the cutoff, out of sample. When the
  // outcomes after the cutoff are known (a past cutoff), the lists' realised conversions are measured too.
  const trainingCutoff = run.trainingCutoff;
  step('features', `training cutoff ${trainingCutoff} (one horizon before the cutoff ${run.cutoff})`);
  const trainSet = await io.buildFeatures({
    loaded,
    cutoff: trainingCutoff,
    runDir: run.runDir,
    folder: 'training-features',
  });
  // No observed outcomes, or nobody active before the training cutoff (the data is shorter than one horizon).
  if (!trainSet.labelled || trainSet.users === 0) {
    throw ApplicationFailure.nonRetryable(
      (trainSet.labelled
        ? `No user has events before the training cutoff ${trainingCutoff} `
        : `The label horizon ${def.label.horizon} after cutoff ${trainingCutoff} has not passed in the loaded data `) +
        `(last event ${extract.maxTs}), so there is nothing to train on. ` +
        (input.trigger === 'schedule'
          ? `A scheduled run needs events over more than one horizon (${def.label.horizon}) before its cutoff ${run.cutoff}.`
          : 'Pick an earlier --cutoff.'),
      'NoLabels',
    );
  }
  if (trainSet.positives === 0 || trainSet.positives === trainSet.users) {
    throw ApplicationFailure.nonRetryable(
      `All ${trainSet.users} users have label ${trainSet.positives === 0 ? 0 : 1} at cutoff ${trainingCutoff}; ` +
        `a model needs both classes. Pick another cutoff or horizon.`,
      'OneClass',
    );
  }

  // Customer lifetime value (when defined) at the cutoff, backtested at the training cutoff: before training, so a
  // fit that cannot be trusted fails the run before anything is published.
  const clv = def.clv
    ? (step('features', `customer lifetime value at ${run.cutoff}`),
      await io.fitCustomerValue({
        loaded,
        runDir: run.runDir,
        cutoff: run.cutoff,
        features,
        trainingCutoff,
        trainingFeatures: trainSet,
      }))
    : null;

  const common = {
    runDir: run.runDir,
    featuresPath: trainSet.featuresPath,
    sequencesPath: trainSet.sequencesPath,
    vocabPath: trainSet.vocabPath,
    model: def.model,
  };

  /**
   * Rolling time splits: fold i trains on the features at T − (k − i)·h and validates on the cutoff one horizon
   * later, so every fold predicts a future it has not seen (T = the training cutoff, h = the horizon).
   */
  const timeFoldSplits = async (t: string, h: number, k: number) => {
    const cutoffs = Array.from({ length: k + 1 }, (_, j) => new Date(Date.parse(t) - (k - j) * h).toISOString());
    const tables = await allStopped(
      cutoffs.map((c, j) =>
        j === k
          ? Promise.resolve(trainSet)
          : io.buildFeatures({ loaded, cutoff: c, runDir: run.runDir, folder: `cv/${c.replace(/[-:.]/g, '')}` }),
      ),
    );
    return Array.from({ length: k }, (_, i) => ({
      kind: 'time' as const,
      k,
      i,
      trainFeaturesPath: tables[i].featuresPath,
      validFeaturesPath: tables[i + 1].featuresPath,
    }));
  };

  const k = def.cv.folds;
  const splits =
    def.cv.strategy === 'none'
      ? []
      : def.cv.strategy === 'time'
        ? await timeFoldSplits(trainingCutoff, run.horizonMs, k)
        : Array.from({ length: k }, (_, i) => ({ kind: 'fold' as const, strategy: def.cv.strategy, k, i }));

  // "auto": cross-validate the candidates first and go on with the best (its folds are then reused below).
  let engine: string = def.model.engine;
  let selection: EngineSelection | null = null;
  if (engine === 'auto') {
    step('cross-validate', `choosing among ${def.model.auto.candidates.join(', ')}`);
    selection = await chooseEngine(
      {
        candidates: def.model.auto.candidates,
        budgetMs: def.model.auto.budgetMinutes * 60_000,
        metric: def.registry.primaryMetric,
        splits,
      },
      {
        trainFold: (e, split) => training.trainModel({ ...common, engine: e, split: split as (typeof splits)[number] }),
        summarise: (_e, results) => io.summariseFolds({ strategy: def.cv.strategy, results }),
        now: () => Date.now(),
        all: (folds) => allStopped(folds),
      },
    );
    engine = selection.chosen;
  }

  let cv: CvSummary | null = null;
  if (splits.length) {
    progress.foldsTotal = k;
    step('cross-validate', `${k} folds (${def.cv.strategy})`);
    const folds = await allStopped(
      splits.map((split) =>
        training.trainModel({ ...common, engine, split }).then((r) => {
          progress.foldsDone++;
          return r;
        }),
      ),
    );
    cv = await io.summariseFolds({ strategy: def.cv.strategy, results: folds });
  }

  step('train', `${engine} + baselines ${def.model.baselines.join(', ') || 'none'}`);
  const holdout = { kind: 'holdout' as const };
  // The blend's parts are trained first (in parallel, as activities of their own) and reported as baselines; the
  // blend activity then reuses their results and only averages.
  const train = (e: string) => training.trainModel({ ...common, engine: e, split: holdout });
  const parts: string[] = engine === 'blend' ? ['forest', 'lstm'] : [];
  const partsDone = allStopped(parts.map(train));
  // The churn-risk model (when the pipeline defines churn): a forest on the customers' rows, trained alongside.
  const churnSet = trainSet.churn;
  const churnTrainable = !!churnSet && churnSet.positives > 0 && churnSet.positives < churnSet.users;
  const [partResults, otherResults, main, churnModel] = await allStopped([
    partsDone,
    allStopped(def.model.baselines.filter((b) => b !== engine && !parts.includes(b)).map(train)),
    partsDone.then(() => train(engine)),
    churnTrainable
      ? training.trainModel({
          ...common,
          featuresPath: churnSet.featuresPath,
          engine: 'forest',
          split: holdout,
          target: 'churn',
        })
      : Promise.resolve(null),
  ]);
  const baselines = [...partResults, ...otherResults];

  step('publish');
  const publish = await io.publishModel({
    loaded,
    runId: run.runId,
    cutoff: run.cutoff,
    trainingCutoff,
    runDir: run.runDir,
    trained: main,
    cv,
    baselines,
    churn: churnModel,
    extract,
    features: trainSet,
    // A backfill only measures the past: its versions are backtests whatever their cutoff.
    backtest: input.trigger === 'backfill' ? 'run by a backfill' : null,
    replaceIncomparable: input.replaceIncomparable,
  });

  let scoring: Awaited<ReturnType<Activities['scoreUsers']>> | null = null;
  let exportRefs: ExportRef[] = [];
  let segmentsPath: string | null = null;
  let delivery: RunSummary['delivery'] = null;
  let webhook: RunSummary['webhook'];
  let bucket: RunSummary['bucket'];
  let marketer = null;
  if (!input.trainOnly) {
    step('score');
    scoring = await training.scoreUsers({
      loaded,
      runDir: run.runDir,
      features,
      // The version the publish step decided on; scoring never looks the champion up again.
      versionDir: publish.scoreWith.versionDir,
      version: publish.scoreWith.version,
    });
    step('segments');
    const scored = scoring;
    const seg = await training.buildSegments({
      loaded,
      runId: run.runId,
      cutoff: run.cutoff,
      runDir: run.runDir,
      featuresPath: features.featuresPath,
      scoresPath: scored.scoresPath,
      reasonsPath: scored.reasonsPath,
      clvPath: clv?.clvPath,
      modelVersion: scored.modelVersion,
      outcomesObserved: features.labelled,
    });
    exportRefs = seg.exports;
    segmentsPath = seg.segmentsPath;
    delivery = seg.delivery;
    marketer = seg.marketer;
    if (def.export.bucket)
      bucket = await deliverToBucketStep({
        pipeline: def.name,
        runId: run.runId,
        target: def.export.bucket,
        files: exportRefs.flatMap((e) => [e.csvPath, e.parquetPath, ...(e.otherFiles ?? [])]),
        manifestPath: seg.manifestPath,
      });
    if (def.export.webhook)
      webhook = await deliverToWebhooks({
        pipeline: def.name,
        runId: run.runId,
        exports: exportRefs,
        webhook: def.export.webhook,
      });
  }

  step('report');
  const summary: RunSummary = {
    runId: run.runId,
    pipeline: def.name,
    cutoff: run.cutoff,
    trainingCutoff,
    cutoffNote: run.cutoffNote ?? null,
    horizon: def.label.horizon,
    runDir: run.runDir,
    extract,
    features: {
      users: features.users,
      trainingUsers: trainSet.users,
      labelled: trainSet.labelled,
      labelRate: trainSet.labelRate,
      positives: trainSet.positives,
      featureCount: trainSet.featureNames.length,
      featuresPath: features.featuresPath,
    },
    model: {
      engine: main.engine,
      backend: main.backend,
      holdout: main.metrics,
      cv,
      baselines: baselines.map((b: TrainResult) => ({ engine: b.engine, metrics: b.metrics })),
      trainSeconds: main.trainSeconds,
      // The LSTM's training sample (itself, or as the blend's part), stated because it is not every user.
      selection,
      lstmTrainSequences: [main, ...baselines].find((r) => r.trainSequences)?.trainSequences ?? null,
      churn: churnSet
        ? {
            engine: 'forest',
            users: churnSet.users,
            churnRate: churnSet.users ? churnSet.positives / churnSet.users : 0,
            metrics: churnModel?.metrics ?? null,
            ...(churnTrainable
              ? {}
              : { note: 'not trained: the customers at the training cutoff are all of one class' }),
          }
        : null,
    },
    clv,
    publish,
    scoring: scoring && {
      scoresPath: scoring.scoresPath,
      users: scoring.users,
      modelVersion: scoring.modelVersion,
      churnScored: scoring.churnScored,
    },
    exports: exportRefs,
    delivery,
    webhook,
    bucket,
    segmentsPath,
    reportPath: null,
    manifestPath: null,
    seconds: 0,
    eventLoop,
  };
  const finished = await io.finishRun({
    loaded,
    summary,
    trained: main,
    features: trainSet,
    marketer,
    startedAt: progress.startedAt,
  });
  progress.stepsDone = STEPS.length;
  progress.step = 'done';
  return { ...finished, eventLoop }; // with the report step's own delay
}
