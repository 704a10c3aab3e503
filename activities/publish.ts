import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedPipeline } from '../pipelines/load';
import { paths } from '../infra/paths';
import { projectRoot } from '../infra/root';
import { ModelRegistry } from '../registry';
import { withDuckDB } from '../warehouse/db';
import { readFeatureTable } from '../warehouse/matrix';
import { loadScorer } from '../ml/scorer';
import { readSequencesWithVocab } from '../ml/lstm';
import { evaluateBinary } from '../ml/metrics';
import type {
  ChampionComparison,
  CvSummary,
  ExtractCounts,
  FeatureRef,
  PublishResult,
  TrainResult,
} from '../workflows/types';
import { selectLabels, selectRows } from '../ml/classifier';
import { writeColumnsToParquet } from '../warehouse/parquet';
import { failFastOnBadInput, InputError, withHeartbeat } from './context';

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
 * is re-scored on this run's holdout rows, so both are compared on the same validation data.
 */
export async function publishModel(input: {
  loaded: LoadedPipeline;
  runId: string;
  cutoff: string;
  runDir: string;
  trained: TrainResult;
  cv: CvSummary | null;
  baselines: TrainResult[];
  /** The churn-risk model trained in the same run (published in the same version), if any. */
  churn?: TrainResult | null;
  extract: ExtractCounts;
  features: FeatureRef;
}): Promise<PublishResult> {
  return withHeartbeat(publish(input), () => ({ step: 'publish' }));
}

async function publish(input: Parameters<typeof publishModel>[0]): Promise<PublishResult> {
  return failFastOnBadInput(async () => {
    const def = input.loaded.definition;
    const registry = new ModelRegistry(paths.registry(def.name));
    const metric = def.registry.primaryMetric;
    const primary = input.trained.metrics?.[metric];
    if (primary == null || !Number.isFinite(primary))
      throw new InputError(
        `the trained model has no ${metric} on its held-out users (too few of one class?): add data, lengthen the horizon or raise model.holdout`,
      );

    const champ = registry.champion();
    // The champion re-scored on this run's held-out users: its metrics (for the gate and the report's comparison)
    // and its predictions (for the report's overlaid ROC curve).
    let comparison: ChampionComparison | null = null;
    if (champ && input.trained.predictionsPath) {
      comparison = await withDuckDB(':memory:', async (conn) => {
        const table = await readFeatureTable(conn, input.features.featuresPath, {
          label: 'label',
          idColumn: 'user_id',
        });
        const holdout = new Set(
          (await conn.runAndReadAll(`SELECT user_id FROM read_parquet($p)`, { p: input.trained.predictionsPath! }))
            .getRows()
            .map((r) => String(r[0])),
        );
        const idx = table.ids.flatMap((id, i) => (holdout.has(id) ? [i] : []));
        const base = { version: champ.version, metric, tolerance: def.registry.tolerance };
        try {
          const model = await loadScorer(
            JSON.parse(readFileSync(join(registry.versionDir(champ.version), 'model.json'), 'utf8')),
          );
          const sequences = model.needsSequences
            ? await readSequencesWithVocab(conn, input.features.sequencesPath, input.features.vocabPath)
            : undefined;
          const ids = idx.map((i) => table.ids[i]);
          const p = model.predict({ x: selectRows(table.x, idx), ids, sequences });
          model.dispose();
          const y = selectLabels(table.y!, idx);
          const predictionsPath = join(input.runDir, 'models', `champion-${champ.version}.predictions.parquet`);
          await writeColumnsToParquet(conn, predictionsPath, [
            { name: 'user_id', type: 'VARCHAR', values: ids },
            { name: 'label', type: 'INTEGER', values: y },
            { name: 'score', type: 'DOUBLE', values: p },
          ]);
          const metrics = Object.fromEntries(
            Object.entries(evaluateBinary(y, p)).filter(([, v]) => Number.isFinite(v)),
          ) as Record<string, number>;
          return { ...base, sameRows: true, metrics, predictionsPath };
        } catch {
          // The champion was trained on other features (the pipeline changed): fall back to its recorded value.
          return { ...base, sameRows: false, metrics: { [metric]: champ.value }, predictionsPath: null };
        }
      });
    }
    const championValue = comparison ? (comparison.metrics[metric] ?? null) : null;
    const sources = await withDuckDB(input.extract.database, async (conn) =>
      (
        await conn.runAndReadAll(
          `SELECT source, file, size, sha256, rows_read, loaded, CAST(loaded_at AS VARCHAR) FROM source_files ORDER BY loaded_at, file`,
        )
      )
        .getRowObjects()
        .map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v]))),
    );
    const model = JSON.parse(readFileSync(input.trained.modelPath, 'utf8'));
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
    const r = await registry.publish({
      runId: input.runId,
      files,
      info: {
        engine: input.trained.engine,
        primaryMetric: metric,
        metrics: {
          holdout: input.trained.metrics,
          cv: input.cv,
          baselines: input.baselines.map((b) => ({ engine: b.engine, metrics: b.metrics })),
          championOnSameRows: championValue,
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
            ? { version: comparison.version, sameRows: comparison.sameRows, metrics: comparison.metrics }
            : null,
        },
        params: {
          engine: input.trained.engine,
          seed: def.model.seed,
          holdout: def.model.holdout,
          forest: def.model.forest,
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
          horizon: def.label.horizon,
          labelEvent: def.label.event,
          sources,
          codeVersion: codeVersion(),
          trainedRows: input.trained.nTrain,
          holdoutRows: input.trained.nTest,
        },
      },
      primaryValue: primary,
      championValue,
      tolerance: def.registry.tolerance,
    });
    return {
      version: r.version,
      versionDir: r.versionDir,
      decision: r.decision,
      reason: r.reason,
      champion: r.champion,
      comparison,
    };
  });
}
