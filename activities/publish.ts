import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedPipeline } from '../pipelines/load';
import { projectRoot } from '../infra/root';
import { type ChampionStanding, type VersionInfo } from '../registry';
import { openRegistry } from '../registry/open';
import { withDuckDB } from '../warehouse/db';
import type {
  ChampionComparison,
  CvSummary,
  ExtractCounts,
  FeatureRef,
  PublishResult,
  TrainResult,
} from '../workflows/types';
import { activityAttempt, failFastOnBadInput, InputError, withHeartbeat } from './context';
import { compareWithChampion } from './champion';
import { sanityWarnings } from '../registry/sanity';
import { noiseWarnings } from './noise-checks';
import { evaluateBinary } from '../ml/metrics';

/** The code version recorded in lineage: the git commit when available, else the package version. */
export function codeVersion(): string {
  const root = projectRoot();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version as string;
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim();
    return `${pkg}+${rev}`;
  } catch {
    return pkg;
  }
}

/**
 * Publishes the trained model as an immutable registry version and runs the champion gate: the current champion
 * is re-scored on this run's holdout rows, so both are compared on the same validation data. A backfill run, or
 * any run at a cutoff older than the live champion's, publishes a backtest (the pointer never moves).
 */
export async function publishModel(input: {
  loaded: LoadedPipeline;
  runId: string;
  /** The run's cutoff: its lists are scored at it; the live/backtest rule compares it with the champion's. */
  cutoff: string;
  /** Where the model was trained (one horizon before the cutoff). */
  trainingCutoff: string;
  runDir: string;
  trained: TrainResult;
  cv: CvSummary | null;
  baselines: TrainResult[];
  /** The churn-risk model trained in the same run (published in the same version), if any. */
  churn?: TrainResult | null;
  extract: ExtractCounts;
  features: FeatureRef;
  /** Set for backfill runs: a backtest whatever the cutoff. */
  backtest?: string | null;
  /** Let the gate replace a champion that cannot be compared on these rows (recorded in the history). */
  replaceIncomparable?: boolean;
  /** Drift the run was told to accept (`run --accept-drift`): recorded with the champion move. */
  driftNote?: string | null;
}): Promise<PublishResult> {
  return withHeartbeat(publish(input), () => ({ step: 'publish' }));
}

type PublishInput = Parameters<typeof publishModel>[0];

/** Test hook: FUNNELCAST_FAULTS="publishModel:crashBeforeChampion[:n]" crashes the first n attempts of the publish
 * after the version folder is written and before the pointer is decided (the registry's crashBeforeChampion). */
function crashBeforeChampion(): boolean {
  const spec = (process.env.FUNNELCAST_FAULTS ?? '').split(',').find((f) => f.startsWith('publishModel:crashBefore'));
  if (!spec) return false;
  return activityAttempt() <= Number(spec.split(':')[2] ?? 1);
}

async function publish(input: PublishInput): Promise<PublishResult> {
  return failFastOnBadInput(async () => {
    const def = input.loaded.definition;
    const registry = await openRegistry(def.name);
    const metric = def.registry.primaryMetric;
    const primary = input.trained.metrics?.[metric];
    if (primary == null || !Number.isFinite(primary))
      throw new InputError(
        `the trained model has no ${metric} on its held-out users (too few of one class?): add data, lengthen the horizon or raise model.holdout`,
      );
    const comparison = await compareWithChampion(registry, input);
    const standing = standingOf(comparison, metric);
    const baselines = input.baselines.map((b) => ({ engine: b.engine, metrics: b.metrics }));
    const warnings = sanityWarnings({
      engine: input.trained.engine,
      metric,
      tolerance: def.registry.tolerance,
      holdout: input.trained.metrics,
      baselines,
      parts: input.trained.components?.map((c) => c.engine),
    });
    // Not objections (the gate ignores them): a difference within noise, a label rate that moved since the champion.
    const { trained, features, trainingCutoff } = input;
    warnings.push(...(await noiseWarnings(registry, { comparison, trained, features, trainingCutoff })));
    const f1 = await f1AtOutOfFoldThreshold(input);
    const sources = await withDuckDB(input.extract.database, async (conn) =>
      (
        await conn.runAndReadAll(
          `SELECT source, file, size, sha256, rows_read, loaded, CAST(loaded_at AS VARCHAR) FROM source_files ORDER BY loaded_at, file`,
        )
      )
        .getRowObjects()
        .map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v]))),
    );
    const r = await registry.publish({
      runId: input.runId,
      files: versionFiles(input),
      info: versionInfo(input, comparison, standing, sources, { warnings, f1 }),
      primaryValue: primary,
      cutoff: input.cutoff,
      champion: standing,
      tolerance: def.registry.tolerance,
      backtest: input.backtest ?? null,
      replaceIncomparable: input.replaceIncomparable ?? def.registry.replaceIncomparable,
      sanity: warnings,
      by: input.runId,
      note: input.driftNote ?? null,
      crashBeforeChampion: crashBeforeChampion(),
    });
    // What scores this run's users: a backtest scores with its own model (what a live run on that date would
    // have used, trained one horizon earlier); a live run with the champion the gate left in place.
    const serving = r.kind === 'backtest' || !r.champion ? r.version : r.champion;
    return {
      version: r.version,
      versionDir: r.versionDir,
      kind: r.kind,
      decision: r.decision,
      reason: r.reason,
      champion: r.champion,
      comparison,
      scoreWith: { version: serving, versionDir: registry.versionDir(serving) },
      warnings,
      f1,
    };
  });
}

/**
 * F1, precision and recall on the held-out users at a threshold chosen without them: the mean of the CV folds'
 * best-F1 thresholds (each chosen on that fold's out-of-fold predictions). At a few-percent base rate the 0.5
 * threshold flags almost nobody (F1 0), and the holdout's own best threshold would flatter the model. Null without
 * CV or held-out predictions.
 */
export async function f1AtOutOfFoldThreshold(
  input: Pick<PublishInput, 'cv' | 'trained'>,
): Promise<PublishResult['f1']> {
  const threshold = input.cv?.mean?.best_f1_threshold;
  const file = input.trained.predictionsPath;
  if (threshold == null || !Number.isFinite(threshold) || !file || !existsSync(file)) return null;
  const rows = await withDuckDB(':memory:', async (conn) =>
    (await conn.runAndReadAll(`SELECT label, score FROM read_parquet($p)`, { p: file })).getRows(),
  );
  const m = evaluateBinary(
    Float64Array.from(rows, (r) => Number(r[0])),
    Float64Array.from(rows, (r) => Number(r[1])),
    { threshold },
  );
  return {
    threshold,
    f1: m.f1,
    precision: m.precision,
    recall: m.recall,
    chosenBy: `mean of the ${input.cv!.folds.length} CV folds' best-F1 thresholds (out-of-fold predictions)`,
  };
}

function standingOf(comparison: ChampionComparison | null, metric: string): ChampionStanding {
  if (!comparison) return { kind: 'none' };
  return comparison.sameRows
    ? { kind: 'same-rows', version: comparison.version, value: comparison.metrics[metric] }
    : {
        kind: 'incomparable',
        version: comparison.version,
        why: comparison.why ?? 'unknown',
        recordedValue: comparison.metrics[metric],
      };
}

/** The files of a version: the model, its feature schema and funnel, held-out predictions, importances, churn model. */
function versionFiles(input: PublishInput): { name: string; from: string }[] {
  const files = [
    { name: 'model.json', from: input.trained.modelPath },
    { name: 'features.json', from: join(input.features.featuresPath, '..', 'schema.json') },
    { name: 'funnel.json', from: input.features.funnelPath },
  ];
  if (input.trained.predictionsPath && existsSync(input.trained.predictionsPath))
    files.push({ name: 'holdout-predictions.parquet', from: input.trained.predictionsPath });
  const importance = input.trained.modelPath.replace(/\.model\.json$/, '.importance.json');
  if (existsSync(importance)) files.push({ name: 'importance.json', from: importance });
  if (input.churn) files.push({ name: 'churn-model.json', from: input.churn.modelPath });
  return files;
}

/** version.json: metrics (with the champion comparison), parameters, feature names and lineage. */
function versionInfo(
  input: PublishInput,
  comparison: ChampionComparison | null,
  standing: ChampionStanding,
  sources: Record<string, unknown>[],
  checks: Pick<PublishResult, 'warnings' | 'f1'>,
): Omit<VersionInfo, 'version' | 'createdAt' | 'runId'> {
  const def = input.loaded.definition;
  const metric = def.registry.primaryMetric;
  const model = JSON.parse(readFileSync(input.trained.modelPath, 'utf8')) as { featureNames?: string[] };
  return {
    engine: input.trained.engine,
    primaryMetric: metric,
    metrics: {
      holdout: input.trained.metrics,
      cv: input.cv,
      baselines: input.baselines.map((b) => ({ engine: b.engine, metrics: b.metrics })),
      championOnSameRows: standing.kind === 'same-rows' ? standing.value : null,
      sanity: checks.warnings ?? [],
      f1: checks.f1 ?? null,
      churn: input.churn
        ? {
            engine: input.churn.engine,
            holdout: input.churn.metrics,
            customers: input.features.churn?.users ?? null,
            churned: input.features.churn?.positives ?? null,
            definition: def.churn ?? null,
          }
        : null,
      champion: comparison
        ? {
            version: comparison.version,
            sameRows: comparison.sameRows,
            why: comparison.why ?? null,
            metrics: comparison.metrics,
          }
        : null,
    },
    params: {
      engine: input.trained.engine,
      seed: def.model.seed,
      holdout: def.model.holdout,
      forest: def.model.forest,
      boosted: input.trained.engine === 'boosted' ? def.model.boosted : undefined,
      logistic: def.model.logistic,
      lstm: ['lstm', 'blend'].includes(input.trained.engine) ? def.model.lstm : undefined,
      components: input.trained.components ?? undefined,
      backend: input.trained.backend ?? null,
    },
    featureNames: model.featureNames ?? input.features.featureNames,
    lineage: {
      pipeline: def.name,
      pipelineFile: input.loaded.file,
      pipelineSha256: input.loaded.hash,
      cutoff: input.cutoff,
      trainingCutoff: input.trainingCutoff,
      labelRate: input.features.labelRate,
      horizon: def.label.horizon,
      labelEvent: def.label.event,
      sources,
      codeVersion: codeVersion(),
      trainedRows: input.trained.nTrain,
      holdoutRows: input.trained.nTest,
    },
  };
}
