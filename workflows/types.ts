/**
 * What crosses Temporal between the client, the workflows and the activities: references (paths, table names),
 * counts and metrics, never rows. Types only, so workflows can import this file safely.
 */
import type { CalibrationAcrossFolds, LiftAcrossFolds } from '../ml/metrics';
import type { LoadedPipeline } from '../pipelines/load';
import type { ResolvedRun } from '../activities/definition';
import type { Decision } from '../registry/gate';
import type { SanityWarning } from '../registry/sanity';
import type { RunUplift } from '../lift/pipeline-uplift';
import type { UpliftForecast } from '../lift/forecast';
import type { NextBestActions } from '../lift/next-best-action';
import type { BucketOutcome, ExportRef, MeasuredCampaignRef, WebhookOutcome } from './delivery-types';

export type { BucketOutcome, ExportRef, MeasuredCampaignRef, WebhookOutcome } from './delivery-types';

export interface RunInput {
  /** A bundled pipeline name (`sample`) or the key of a definition file (cli/edge.ts portableDefinition). */
  pipeline: string;
  /** Where the definition's relative source paths are read from, when it travels by content (`definitions/…`). */
  sourcesDir?: string;
  /** ISO time; when absent: the schedule's time for scheduled runs, else the pipeline's default cutoff. */
  cutoff?: string;
  /** Who started the run. */
  trigger?: 'cli' | 'schedule' | 'backfill' | 'test';
  /** Skip scoring/segments/exports (backfills that only measure the model over time). */
  trainOnly?: boolean;
  /** Let the gate replace a champion that cannot be compared on this run's rows (else registry.replaceIncomparable). */
  replaceIncomparable?: boolean;
  /** Publish and deliver although the drift checks block (else drift.accept in the definition). */
  acceptDrift?: boolean;
  /**
   * The planned run (definition, extraction, content-addressed id) when a planning workflow started this one with
   * workflow id = run id (workflows/start.ts, backfill); without it the retrain workflow plans for itself.
   */
  plan?: RunPlan;
  /** `funnelcast rerun`: the run this one re-executes from a step (recorded in its summary and search attributes). */
  rerun?: RerunRequest;
}

/** The steps a run can be re-executed from (`funnelcast rerun <run> --from <step>`), in pipeline order. */
export const RERUN_STEPS = ['features', 'cross-validate', 'train', 'publish', 'score', 'segments', 'report'] as const;
export type RerunStep = (typeof RERUN_STEPS)[number];

export interface RerunRequest {
  /** The run re-executed. */
  of: string;
  from: RerunStep;
  /** The origin's publish result (from its history), reused when re-running from a later step on the same inputs. */
  publish?: PublishResult | null;
}

/** What a rerun reused: only steps before `from`, and only when its inputs are the origin's (same run key). */
export interface RerunPlan {
  of: string;
  from: RerunStep;
  reused: RerunStep[];
  note: string;
}

/** What planning a run decided: the definition it runs, what extraction loaded, and its id, cutoff and folder. */
export interface RunPlan {
  /** When planning began: the run's duration counts its extraction. */
  plannedAt: string;
  loaded: LoadedPipeline;
  extract: ExtractCounts;
  run: ResolvedRun;
  rerun?: RerunPlan;
}

/** What starting a run returned: its id, and its summary when it had already finished. */
export interface StartedRun {
  runId: string;
  cutoff: string;
  /** False when the run was already running (attach to it) or already finished (`summary`). */
  started: boolean;
  summary: RunSummary | null;
}

export interface StepProgress {
  runId: string | null;
  pipeline: string;
  cutoff: string | null;
  step: string;
  stepsDone: number;
  stepsTotal: number;
  detail: string;
  rows: number;
  foldsDone: number;
  foldsTotal: number;
  startedAt: string;
  history: { step: string; at: string; detail: string }[];
}

export interface ExtractCounts {
  read: number;
  loaded: number;
  duplicates: number;
  quarantined: number;
  users: number;
  events: number;
  minTs: string | null;
  maxTs: string | null;
  database: string;
  files: number;
  filesSkipped: number;
}

export interface FeatureRef {
  featuresPath: string;
  sequencesPath: string;
  vocabPath: string;
  users: number;
  labelled: boolean;
  positives: number;
  labelRate: number | null;
  featureNames: string[];
  funnel: { stage: string; users: number; fromPrevious: number | null; medianHoursFromPrevious?: number | null }[];
  funnelPath: string;
  /** How customer attributes became features: as of the cutoff, declared static, or none. */
  customerAttributes?: 'as-of' | 'static' | null;
  /** The churn model's training table (customers at the cutoff, label = churned), when the pipeline defines churn. */
  churn: { featuresPath: string; users: number; positives: number } | null;
}

/** Customer lifetime value at the run's cutoff (activities/clv.ts): the fitted models and where the columns are. */
export interface ClvRef {
  clvPath: string;
  /** The cutoff the fit below describes (the run's cutoff; the validation's is its training cutoff). */
  cutoff: string;
  horizon: string;
  /** The RFM time unit the parameters are in (α is in these units). */
  unit: 'days' | 'weeks';
  annualDiscountRate: number;
  /** Users with a purchase before the cutoff (modelled), of all users scored. */
  customers: number;
  users: number;
  /** Customers with repeat purchases and a positive mean value: Gamma-Gamma's rows. */
  repeatCustomers: number;
  bgnbd: { r: number; alpha: number; a: number; b: number; logLikelihood: number };
  gammaGamma: { p: number; q: number; v: number; logLikelihood: number };
  /** Expected spend per purchase of a customer without repeats (Gamma-Gamma's population mean). */
  populationSpend: number;
  /**
   * The backtest: the same models fitted at the run's training cutoff, their predicted repeat purchases against
   * the realised ones in [training cutoff, + horizon), per repeat-purchase count before it; null when the data
   * does not cover that window.
   */
  validation:
    | (Pick<
        ClvRef,
        'cutoff' | 'customers' | 'users' | 'repeatCustomers' | 'bgnbd' | 'gammaGamma' | 'populationSpend'
      > & {
        until: string;
        buckets: { repeatPurchases: number; customers: number; predicted: number; actual: number }[];
      })
    | null;
}

/** One trained model on one split (a CV fold, the holdout split, or all rows). */
export interface TrainResult {
  engine: string;
  split: string;
  modelPath: string;
  predictionsPath: string | null;
  metrics: Record<string, number> | null;
  nTrain: number;
  nTest: number;
  trainSeconds: number;
  backend?: string;
  /** Set when a finished result was found on disk and reused (retries, resumed runs). */
  reused: boolean;
  /** Trees (forest) or epochs (LSTM) taken from the checkpoint of a crashed attempt instead of done again. */
  resumedFrom?: number;
  /** The blend's parts, evaluated on the same held-out users. */
  components?: { engine: string; metrics: Record<string, number> | null }[];
  /** LSTM: the training sequences available and used (a stratified sample beyond model.lstm.maxTrainSequences). */
  trainSequences?: { available: number; used: number };
  /** Forest: the rows it trained on when the majority class was downsampled (model.forest.downsampleMajority). */
  trainingSample?: TrainingSampleRef;
}

/** Every minority-class row and a seeded draw of the majority (ml/downsample), probabilities corrected back. */
export interface TrainingSampleRef {
  rows: number;
  /** The engine that trained on it (absent: the forest, in results written before the logistic downsampled). */
  engine?: string;
  majorityClass: 0 | 1;
  minority: number;
  majorityKept: number;
  majorityAll: number;
}

/** How `model.engine: "auto"` chose: each candidate's cross-validated primary metric (workflows/auto.ts). */
export interface EngineSelection {
  metric: string;
  chosen: string;
  candidates: { engine: string; mean: number; std: number; seconds: number }[];
  /** Candidates not cross-validated because the time budget was spent. */
  skipped: string[];
  budgetSeconds: number;
}

/** What `model.search` tried and kept (in the run summary and the report). */
export interface ParamSearch {
  engine: string;
  metric: string;
  seed: number;
  /** Index into `trials` of the settings the model trained with. */
  chosen: number;
  trials: { params: Record<string, number | string>; mean: number; std: number; seconds: number }[];
  /** Trials not cross-validated because the time budget was spent. */
  skipped: number;
  budgetSeconds: number;
}

export interface CvSummary {
  strategy: string;
  folds: Record<string, number>[];
  mean: Record<string, number>;
  std: Record<string, number>;
  /** Lift and cumulative gains by decile over the folds (mean ± std), from each fold's held-out predictions. */
  lift?: LiftAcrossFolds[];
  /** Reliability bins pooled over the folds, with the spread of the per-fold observed rates. */
  calibration?: CalibrationAcrossFolds[];
}

/** The standing champion scored on the new model's held-out users, for the gate and the report. */
export interface ChampionComparison {
  version: string;
  metric: string;
  tolerance: number;
  /**
   * True only when the champion was scored on exactly the new model's held-out users and neither model trained on
   * them. False: the champion is not comparable on these rows (`why`), and `metrics` is its recorded value.
   */
  sameRows: boolean;
  why?: string;
  metrics: Record<string, number>;
  predictionsPath: string | null;
}

/** The pre-delivery check of the score distribution (workflows/run/drift.ts scoreDriftGate). */
export interface ScoreDrift {
  level: 'ok' | 'warn' | 'block';
  message: string;
  reportPath: string | null;
  /** PSI when it moved (warn or block). */
  psi: number | null;
  accepted?: boolean;
}

export interface PublishResult {
  version: string;
  versionDir: string;
  /** live: a candidate for serving; backtest: a backfill or a cutoff older than the live champion's, never serving. */
  kind: 'live' | 'backtest';
  decision: Decision;
  reason: string;
  champion: string | null;
  /** The version that scores this run's users, decided by the publish step (scoring never looks it up again). */
  scoreWith: { version: string; versionDir: string };
  /** Null for the first model of a pipeline. */
  comparison?: ChampionComparison | null;
  /** Failed sanity checks (a baseline beats the model): the gate kept it a challenger. */
  warnings?: SanityWarning[];
  /** F1 / precision / recall on the holdout at a threshold chosen on the CV folds (null without CV). */
  f1?: { threshold: number; f1: number; precision: number; recall: number; chosenBy: string } | null;
}

export interface RunSummary {
  runId: string;
  /** A rerun: the run it re-executed, from which step, and what it reused. */
  rerun?: RerunPlan | null;
  pipeline: string;
  cutoff: string;
  /** Where the model was trained: the cutoff itself, or one horizon earlier when its labels are not observed yet. */
  trainingCutoff: string;
  /** How the cutoff was chosen when it is not the one asked for (the data's clock), and where the model trains when the data stops before the cutoff. */
  cutoffNote?: string | null;
  horizon: string;
  runDir: string;
  extract: ExtractCounts;
  features: {
    /** Users scored at the cutoff. */
    users: number;
    /** Users of the training table (at the training cutoff), which the label rate and positives describe. */
    trainingUsers: number;
    labelled: boolean;
    labelRate: number | null;
    positives: number;
    featureCount: number;
    featuresPath: string;
  };
  model: {
    engine: string;
    backend?: string;
    holdout: Record<string, number> | null;
    cv: CvSummary | null;
    baselines: { engine: string; metrics: Record<string, number> | null; trainingSample?: TrainingSampleRef }[];
    trainSeconds: number;
    /** With engine "auto": the candidates' cross-validated scores and the one chosen. */
    selection?: EngineSelection | null;
    search?: ParamSearch | null;
    /** The sequences the LSTM trained on when it is (part of) the model: a stratified sample when more. */
    lstmTrainSequences?: { available: number; used: number } | null;
    /** The forest's training rows when the majority class was downsampled (stated: not every training row). */
    trainingSample?: TrainingSampleRef | null;
    /** The churn-risk model's held-out metrics (customers only), when the pipeline defines churn. */
    churn?: {
      engine: string;
      users: number;
      churnRate: number;
      metrics: Record<string, number> | null;
      note?: string;
    } | null;
  };
  /** Customer lifetime value at the cutoff, when the pipeline defines `clv`. */
  clv?: ClvRef | null;
  publish: PublishResult | null;
  /** The drift checks against the champion before publishing (null: not checked, e.g. a backfill). */
  drift?: {
    level: 'ok' | 'warn' | 'block';
    message: string;
    reportPath: string | null;
    accepted?: boolean;
    /** The score distribution against the champion's, before delivery (absent: not compared). */
    score?: ScoreDrift | null;
  } | null;
  scoring: { scoresPath: string; users: number; modelVersion: string; churnScored?: number } | null;
  exports: ExportRef[];
  /** The stable folder the lists were delivered to (pipeline `export.destination`), or why they were not. */
  delivery?: { dir: string; delivered: boolean; reason?: string } | null;
  /** Each list's webhook delivery (`export.webhook`): delivered, or failed for good (dead-letter record). */
  webhook?: WebhookOutcome[];
  /** The upload of the run's files to `export.bucket`. */
  bucket?: BucketOutcome;
  /** Earlier runs' campaigns measured on this run's data (activities/measure.ts): lift vs control, or why not. */
  measurement?: MeasuredCampaignRef[];
  /** The uplift models of campaigns that rank by uplift, and what each list is predicted to add (predictions). */
  uplift?: (RunUplift & { forecast: UpliftForecast[] }) | null;
  /** Per segment, the action with the best measured incremental response, or "not enough evidence". */
  nextBestAction?: NextBestActions | null;
  segmentsPath: string | null;
  reportPath: string | null;
  manifestPath: string | null;
  seconds: number;
  /**
   * The worker's maximum event-loop delay (ms) while the run's activities ran, overall and per step: above a few
   * seconds Temporal times workflow tasks and heartbeats out. Absent in runs finished before it was measured.
   */
  eventLoop?: { maxDelayMs: number; byStep: Record<string, number> };
}
