import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelSpec } from '../pipelines/schema';
import { ensureDir } from '../infra/paths';
import { writeJsonAtomic, writeFileAtomic } from '../infra/atomic';
import { withDuckDB } from '../warehouse/db';
import { readFeatureTable } from '../warehouse/matrix';
import { writeColumnsToParquet } from '../warehouse/parquet';
import { selectLabels, selectRows } from '../ml/classifier';
import { createClassifier } from '../ml/engines';
import { holdoutByUser, holdoutSplit, stratifiedKFold } from '../ml/cv';
import { evaluateBinary } from '../ml/metrics';
import { permutationImportance } from '../ml/importance';
import type { CvSummary, TrainResult } from '../workflows/types';
import { cancellationSignal, failFastOnBadInput, heartbeat } from './context';

export type Split =
  | { kind: 'holdout' }
  | { kind: 'fold'; strategy: string; k: number; i: number }
  /** Rolling time split: train on the features at one cutoff, validate on the next (one horizon later). */
  | { kind: 'time'; k: number; i: number; trainFeaturesPath: string; validFeaturesPath: string };

export interface TrainInput {
  runDir: string;
  featuresPath: string;
  sequencesPath: string;
  vocabPath: string;
  model: ModelSpec;
  engine: string;
  split: Split;
}

/**
 * Held-out users by a hash of their id (the same users in every run, so champion and challenger are compared on
 * users neither trained on); when that leaves one class out of the test set (small or very imbalanced data), a
 * stratified random holdout instead, so the model can still be evaluated.
 */
function holdout(ids: string[], y: Uint8Array, fraction: number, seed: number) {
  const byUser = holdoutByUser(ids, fraction, seed);
  let pos = 0;
  for (const i of byUser.test) pos += y[i];
  return pos > 0 && pos < byUser.test.length ? byUser : holdoutSplit(y, fraction, seed);
}

const splitName = (s: Split) =>
  s.kind === 'holdout' ? 'holdout' : s.kind === 'time' ? `time${s.i + 1}of${s.k}` : `fold${s.i + 1}of${s.k}`;

function engineParams(model: ModelSpec, engine: string): Record<string, unknown> {
  if (engine === 'forest') return model.forest;
  if (engine === 'logistic') return model.logistic;
  if (engine === 'mlrf') return { nEstimators: model.forest.nTrees, maxDepth: model.forest.maxDepth };
  return {};
}

/**
 * Trains one engine on one split and evaluates it on the rows it did not see. A finished result is stored
 * next to the model, so a retried or resumed fold returns it instead of training again.
 */
export async function trainModel(input: TrainInput): Promise<TrainResult> {
  return failFastOnBadInput(async () => {
    const name = `${input.engine}-${splitName(input.split)}`;
    const dir = ensureDir(join(input.runDir, 'models'));
    const resultFile = join(dir, `${name}.result.json`);
    if (existsSync(resultFile))
      return { ...(JSON.parse(readFileSync(resultFile, 'utf8')) as TrainResult), reused: true };

    return withDuckDB(':memory:', async (conn) => {
      const s = input.split;
      const seed = input.model.seed;
      // A time fold stacks the two cutoffs' tables: rows of the earlier one train, rows of the later one validate.
      const table = await readFeatureTable(conn, s.kind === 'time' ? s.trainFeaturesPath : input.featuresPath, {
        label: 'label',
        idColumn: 'user_id',
      });
      let timeSplit: { train: Uint32Array; test: Uint32Array } | null = null;
      if (s.kind === 'time') {
        const valid = await readFeatureTable(conn, s.validFeaturesPath, {
          label: 'label',
          idColumn: 'user_id',
          encoding: table.encoding,
        });
        const n = table.x.nRows;
        const m = valid.x.nRows;
        table.x = {
          nRows: n + m,
          names: table.x.names,
          columns: table.x.columns.map((c, j) => {
            const out = new Float32Array(n + m);
            out.set(c);
            out.set(valid.x.columns[j], n);
            return out;
          }),
        };
        const y2 = new Uint8Array(n + m);
        y2.set(table.y!);
        y2.set(valid.y!, n);
        table.y = y2;
        table.ids = [...table.ids, ...valid.ids];
        timeSplit = {
          train: Uint32Array.from({ length: n }, (_, i) => i),
          test: Uint32Array.from({ length: m }, (_, i) => n + i),
        };
      }
      const y = table.y!;
      const { train, test } =
        timeSplit ??
        (s.kind === 'holdout'
          ? holdout(table.ids, y, input.model.holdout, seed)
          : stratifiedKFold(y, (s as { k: number }).k, seed)[(s as { i: number }).i]);
      const clf = createClassifier(input.engine as 'forest', engineParams(input.model, input.engine), seed);
      const started = performance.now();
      const checkpointDir = join(dir, `${name}.checkpoint`);
      await clf.fit(selectRows(table.x, train), selectLabels(y, train), {
        onProgress: (p) => heartbeat({ model: name, ...p }),
        signal: cancellationSignal(),
        checkpointDir,
      });
      const resumedFrom = (clf as { resumedTrees?: number }).resumedTrees ?? 0;
      const trainSeconds = (performance.now() - started) / 1000;
      const xTest = selectRows(table.x, test);
      const yTest = selectLabels(y, test);
      const p = clf.predictProba(xTest);
      const metrics = evaluateBinary(yTest, p) as unknown as Record<string, number>;

      if (s.kind === 'holdout') {
        // Held-out permutation importances (AUC drop), beside the engine's own importances in the model file.
        writeJsonAtomic(join(dir, `${name}.importance.json`), {
          metric: 'roc_auc',
          permutation: permutationImportance(clf, xTest, yTest, { seed }),
          engine: clf.featureImportances(),
        });
      }
      const modelPath = join(dir, `${name}.model.json`);
      writeFileAtomic(modelPath, JSON.stringify({ ...clf.serialize(), encoding: table.encoding }));
      const predictionsPath = join(dir, `${name}.predictions.parquet`);
      await writeColumnsToParquet(conn, predictionsPath, [
        { name: 'user_id', type: 'VARCHAR', values: Array.from(test, (i) => table.ids[i]) },
        { name: 'label', type: 'INTEGER', values: yTest },
        { name: 'score', type: 'DOUBLE', values: p },
      ]);
      const result: TrainResult = {
        engine: input.engine,
        split: splitName(s),
        modelPath,
        predictionsPath,
        metrics: scalarMetrics(metrics),
        nTrain: train.length,
        nTest: test.length,
        trainSeconds,
        reused: false,
        resumedFrom,
      };
      writeJsonAtomic(resultFile, result);
      rmSync(checkpointDir, { recursive: true, force: true });
      return result;
    });
  });
}

/** Keeps the scalar metrics (curves and tables stay in the files the report reads). */
function scalarMetrics(m: Record<string, unknown>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).filter(([, v]) => typeof v === 'number' && Number.isFinite(v))) as Record<
    string,
    number
  >;
}

export async function summariseFolds(input: { strategy: string; results: TrainResult[] }): Promise<CvSummary> {
  const folds = input.results.map((r) => r.metrics ?? {});
  const keys = Object.keys(folds[0] ?? {});
  const mean: Record<string, number> = {};
  const std: Record<string, number> = {};
  for (const k of keys) {
    const v = folds.map((f) => f[k]).filter((x) => Number.isFinite(x));
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    mean[k] = m;
    std[k] = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, v.length - 1));
  }
  return { strategy: input.strategy, folds, mean, std };
}
