import { existsSync, readFileSync, rmSync } from 'node:fs';
import { diskFullError } from '../infra/disk-full';
import { dirname, join } from 'node:path';
import type { ModelSpec } from '../pipelines/schema';
import { ensureDir } from '../infra/paths';
import { writeJsonAtomic, writeFileAtomic } from '../infra/atomic';
import { withDuckDB } from '../warehouse/db';
import { writeColumnsToParquet } from '../warehouse/parquet';
import type { FitOptions } from '../ml/classifier';
import { createClassifier } from '../ml/engines';
import { RandomForest } from '../ml/forest';
import { LogisticRegression } from '../ml/logistic';
import type { TrainingSample } from '../ml/downsample';
import { stratifiedKFold } from '../ml/cv';
import {
  aggregate,
  aggregateCalibration,
  aggregateLift,
  calibrationBins,
  evaluateBinary,
  liftByDecile,
  type CalibrationBin,
  type LiftRow,
} from '../ml/metrics';
import { permutationImportanceAsync } from '../ml/importance';
import type { CvSummary, TrainResult } from '../workflows/types';
import {
  concatSequences,
  loadLstm,
  lstmToSerialized,
  predictSequences,
  withoutClassWeighting,
  readSequences,
  readVocab,
  remapTokens,
} from '../ml/lstm';
import type { SerializedModel } from '../ml/classifier';
import { blendOf, type BlendPayload } from '../ml/scorer';
import { claimFiles, failFastOnBadInput, heartbeat, InputError, withHeartbeat, type AttemptWriter } from './context';

import { fitOnSplit, holdout, splitName, type Split } from './split';
import { CheckpointSync } from './checkpoint-store';
import { fitLstm } from './lstm-fit';

export type { Split };

export interface TrainInput {
  runDir: string;
  featuresPath: string;
  sequencesPath: string;
  vocabPath: string;
  model: ModelSpec;
  engine: string;
  split: Split;
  /** What the label means: conversion (default) or churn (featuresPath is then the churn training table). */
  target?: 'conversion' | 'churn';
  /** A model.search trial: its settings are in `model`, and its files are named apart from the run's own. */
  variant?: string;
}

function engineParams(model: ModelSpec, engine: string): Record<string, unknown> {
  if (engine === 'forest') return model.forest;
  if (engine === 'logistic') return model.logistic;
  if (engine === 'boosted') return model.boosted;
  if (engine === 'mlrf') return { nEstimators: model.forest.nTrees, maxDepth: model.forest.maxDepth };
  return {};
}

/**
 * Trains one engine on one split and evaluates it on the rows it did not see. A finished result is stored
 * next to the model, so a retried or resumed fold returns it instead of training again.
 */
export async function trainModel(input: TrainInput): Promise<TrainResult> {
  return failFastOnBadInput(async () => {
    const name = `${input.target === 'churn' ? 'churn-' : ''}${input.engine}-${input.variant ? `${input.variant}-` : ''}${splitName(input.split)}`;
    if (input.target === 'churn' && !['forest', 'logistic', 'mlrf', 'boosted'].includes(input.engine))
      throw new InputError(`the churn model is tabular: engine ${input.engine} cannot train it`);
    const dir = ensureDir(join(input.runDir, 'models'));
    const resultFile = join(dir, `${name}.result.json`);
    if (existsSync(resultFile))
      return { ...(JSON.parse(readFileSync(resultFile, 'utf8')) as TrainResult), reused: true };
    // This attempt's claim on the split's files: its signal stops the work when the attempt is cancelled or timed
    // out (or a retry took over), and no write of a stale attempt replaces the retry's files.
    const w = claimFiles(dir, name);
    try {
      const at = { name, dir, resultFile, w };
      if (input.engine === 'lstm') return await trainLstmOnSplit(input, at);
      if (input.engine === 'blend') return await trainBlendOnSplit(input, at);
      return await trainTabular(input, at);
    } catch (e) {
      // A full disk is said as such (an activity failure, retried: the run finishes once space is freed); the
      // atomic writes leave no partial model file behind.
      throw diskFullError(e, `writing the ${name} model under ${dir}`, 'no partial model file kept') ?? e;
    } finally {
      w.release();
    }
  });
}

/** Where one attempt writes: the split's name, the models folder, the result file and the attempt's claim. */
interface AttemptFiles {
  name: string;
  dir: string;
  resultFile: string;
  w: AttemptWriter;
}

async function trainTabular(input: TrainInput, { name, dir, resultFile, w }: AttemptFiles): Promise<TrainResult> {
  return withDuckDB(':memory:', async (conn) => {
    const s = input.split;
    const seed = input.model.seed;
    const clf = createClassifier(input.engine as 'forest', engineParams(input.model, input.engine), seed);
    const checkpointDir = join(dir, `${name}.checkpoint`);
    const stored = CheckpointSync.forDir(checkpointDir); // workers sharing a store: resume from any worker's trees
    await stored?.restore();
    let last: unknown = { model: name, phase: 'reading' };
    const fitOptions: FitOptions = {
      onProgress: (p) => {
        heartbeat((last = { model: name, ...p }));
        stored?.poke();
      },
      signal: w.signal,
      writerTag: w.tag,
      checkpointDir,
    };
    // Reading the table and the work after the last tree (out-of-bag votes, calibration) report no progress of
    // their own: a timer keeps heartbeating while they yield, so a slow, busy machine is not a dead worker.
    const fitted = await withHeartbeat(fitOnSplit(conn, input, clf, fitOptions), () => last).catch(async (e) => {
      await stored?.flush().catch(() => undefined); // a stopped attempt leaves its trees for the retry
      throw e;
    });
    const { xTest, yTest, trainSeconds } = fitted;
    w.check(); // engines without a signal check of their own (mlrf) end here when the attempt was cancelled
    const resumedFrom = (clf as { resumedTrees?: number }).resumedTrees ?? 0;
    const p = clf.predictProba(xTest);
    const metrics = evaluateBinary(yTest, p) as unknown as Record<string, number>;

    if (s.kind === 'holdout') {
      // Held-out permutation importances (AUC drop), beside the engine's own importances in the model file.
      const permutation = await permutationImportanceAsync(clf, xTest, yTest, {
        seed,
        onFeature: (done, total) => heartbeat({ model: name, phase: 'importance', done, total }),
      });
      w.check();
      writeJsonAtomic(
        join(dir, `${name}.importance.json`),
        { metric: 'roc_auc', permutation, engine: clf.featureImportances() },
        w,
      );
    }
    const modelPath = join(dir, `${name}.model.json`);
    w.check();
    writeFileAtomic(modelPath, JSON.stringify({ ...clf.serialize(), encoding: fitted.encoding }), w);
    const predictionsPath = join(dir, `${name}.predictions.parquet`);
    await writePredictions(conn, predictionsPath, fitted.testIds, yTest, p, w);
    const result: TrainResult = {
      engine: input.engine,
      split: splitName(s),
      modelPath,
      predictionsPath,
      metrics: scalarMetrics(metrics),
      nTrain: fitted.nTrain,
      nTest: yTest.length,
      trainSeconds,
      reused: false,
      resumedFrom,
      ...(sampleOf(clf) ? { trainingSample: { ...sampleOf(clf)!, engine: input.engine } } : {}),
    };
    w.check();
    writeJsonAtomic(resultFile, result, w);
    rmSync(checkpointDir, { recursive: true, force: true });
    await stored?.finish();
    return result;
  });
}

/** The downsampled training rows of an engine that downsamples the majority class (forest, logistic). */
const sampleOf = (clf: unknown): TrainingSample | null =>
  clf instanceof RandomForest || clf instanceof LogisticRegression ? clf.trainingSample : null;

const sequencesBeside = (featuresPath: string) => join(dirname(featuresPath), 'sequences.parquet');
const vocabBeside = (featuresPath: string) => readVocab(join(dirname(featuresPath), 'sequences.vocab.json'));

/** Held-out predictions (user_id, label, score): what the blend, the report and the champion gate read. */
function writePredictions(
  conn: Parameters<typeof writeColumnsToParquet>[0],
  path: string,
  ids: string[],
  y: Uint8Array,
  p: Float64Array,
  w: AttemptWriter,
) {
  w.check();
  return writeColumnsToParquet(
    conn,
    path,
    [
      { name: 'user_id', type: 'VARCHAR', values: ids },
      { name: 'label', type: 'INTEGER', values: y },
      { name: 'score', type: 'DOUBLE', values: p },
    ],
    w,
  );
}

/**
 * The LSTM on one split of the users' sequences (same users and split as the tabular engines: the holdout is by
 * user-id hash, folds by the same seeded stratification over the same user order). Its checkpoint folder sits
 * beside the model, so a retried attempt after a crash resumes from the last finished epoch.
 */
async function trainLstmOnSplit(input: TrainInput, { name, dir, resultFile, w }: AttemptFiles) {
  return withDuckDB(':memory:', async (conn) => {
    const s = input.split;
    const seed = input.model.seed;
    const vocab = vocabBeside(s.kind === 'time' ? s.trainFeaturesPath : input.featuresPath);
    let seqs;
    let split: { train: ArrayLike<number>; test: ArrayLike<number> };
    if (s.kind === 'time') {
      const a = await readSequences(conn, sequencesBeside(s.trainFeaturesPath));
      const b = await readSequences(conn, sequencesBeside(s.validFeaturesPath));
      seqs = concatSequences(a, remapTokens(b, vocabBeside(s.validFeaturesPath), vocab));
      const n = a.ids.length;
      split = {
        train: Uint32Array.from({ length: n }, (_, i) => i),
        test: Uint32Array.from({ length: b.ids.length }, (_, i) => n + i),
      };
    } else {
      seqs = await readSequences(conn, input.sequencesPath);
      split =
        s.kind === 'holdout'
          ? holdout(seqs.ids, seqs.labels, input.model.holdout, seed)
          : stratifiedKFold(seqs.labels, s.k, seed)[s.i];
    }
    const started = performance.now();
    const { r, finish } = await fitLstm(name, {
      sequences: seqs,
      vocabSize: Object.keys(vocab).length,
      outDir: join(dir, `${name}.lstm`),
      params: input.model.lstm,
      seed,
      trainRows: split.train,
      signal: w.signal,
      writerTag: w.tag,
    });
    w.check();
    const trainSeconds = (performance.now() - started) / 1000;
    const { model } = await loadLstm(r.modelDir);
    const p = predictSequences(model, seqs, split.test).map((q) => withoutClassWeighting(q, r.classWeight));
    model.dispose();
    const test = Array.from(split.test);
    const yTest = Uint8Array.from(test, (i) => seqs.labels[i]);
    const metrics = evaluateBinary(yTest, p) as unknown as Record<string, number>;
    const modelPath = join(dir, `${name}.model.json`);
    w.check();
    writeFileAtomic(modelPath, JSON.stringify(lstmToSerialized(r.modelDir, vocab)), w);
    const predictionsPath = join(dir, `${name}.predictions.parquet`);
    await writePredictions(
      conn,
      predictionsPath,
      test.map((i) => seqs.ids[i]),
      yTest,
      p,
      w,
    );
    const result: TrainResult = {
      engine: 'lstm',
      split: splitName(s),
      modelPath,
      predictionsPath,
      metrics: scalarMetrics(metrics),
      nTrain: split.train.length,
      nTest: test.length,
      trainSeconds,
      backend: r.backend,
      reused: false,
      resumedFrom: r.resumedFromEpoch,
      trainSequences: r.sequences,
    };
    w.check();
    writeJsonAtomic(resultFile, result, w);
    await finish();
    return result;
  });
}

/**
 * The blend: its parts (`model.blend.parts`, the forest and the LSTM unless given) trained on the same split (each
 * reused when already trained, e.g. as the run's baselines), and the mean of their log-odds (blendOf) evaluated
 * on the same held-out users.
 */
async function trainBlendOnSplit(input: TrainInput, { name, dir, resultFile, w }: AttemptFiles) {
  const engines: string[] = input.model.blend?.parts ?? ['forest', 'lstm'];
  const parts: TrainResult[] = [];
  for (const engine of engines) parts.push(await trainModel({ ...input, engine }));
  return withDuckDB(':memory:', async (conn) => {
    const read = async (f: string) =>
      (await conn.runAndReadAll(`SELECT user_id, label, score FROM read_parquet($p)`, { p: f })).getRows();
    const scores = await Promise.all(
      parts.map(async (r) => new Map((await read(r.predictionsPath!)).map((x) => [String(x[0]), Number(x[2])]))),
    );
    // The users, labels and order of the first part; every other part must have held out the same users.
    const rows = await read(parts[0].predictionsPath!);
    const weights = engines.map(() => 1 / engines.length);
    const combine = { weights: Object.fromEntries(engines.map((e, k) => [e, weights[k]])), combine: 'logit' as const };
    const ids = rows.map((r) => String(r[0]));
    const y = Uint8Array.from(rows, (r) => Number(r[1]));
    const ps = new Float64Array(engines.length);
    const p = Float64Array.from(ids, (id) => {
      scores.forEach((m, k) => {
        const v = m.get(id);
        if (v === undefined)
          throw new Error(`user ${id} is held out for the ${engines[0]} but not for the ${engines[k]}`);
        ps[k] = v;
      });
      return blendOf(ps, weights, 'logit');
    });
    const metrics = evaluateBinary(y, p) as unknown as Record<string, number>;
    const models = parts.map(
      (r) => JSON.parse(readFileSync(r.modelPath, 'utf8')) as SerializedModel & { encoding?: unknown },
    );
    // The feature names and encoding the scorer reads come from a tabular part (the LSTM reads sequences).
    const tabular = engines.findIndex((e) => e !== 'lstm');
    const payload: BlendPayload = { ...combine, parts: Object.fromEntries(engines.map((e, k) => [e, models[k]])) };
    const modelPath = join(dir, `${name}.model.json`);
    w.check();
    writeFileAtomic(
      modelPath,
      JSON.stringify({
        engine: 'blend',
        formatVersion: 1,
        featureNames: models[tabular].featureNames,
        payload,
        encoding: models[tabular].encoding,
      }),
      w,
    );
    const importance = parts[tabular].modelPath.replace(/\.model\.json$/, '.importance.json');
    if (existsSync(importance))
      writeFileAtomic(join(dir, `${name}.importance.json`), readFileSync(importance, 'utf8'), w);
    const predictionsPath = join(dir, `${name}.predictions.parquet`);
    await writePredictions(conn, predictionsPath, ids, y, p, w);
    const result: TrainResult = {
      engine: 'blend',
      split: parts[0].split,
      modelPath,
      predictionsPath,
      metrics: scalarMetrics(metrics),
      nTrain: parts[tabular].nTrain,
      nTest: ids.length,
      trainSeconds: parts.reduce((a, r) => a + r.trainSeconds, 0),
      backend: parts.find((r) => r.engine === 'lstm')?.backend ?? parts[tabular].backend,
      reused: false,
      components: parts.map((r) => ({ engine: r.engine, metrics: r.metrics })),
    };
    w.check();
    writeJsonAtomic(resultFile, result, w);
    return result;
  });
}

/** Keeps the scalar metrics (curves and tables stay in the files the report reads). */
function scalarMetrics(m: Record<string, unknown>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).filter(([, v]) => typeof v === 'number' && Number.isFinite(v))) as Record<
    string,
    number
  >;
}

/**
 * Mean ± std of every scalar metric over the folds, plus lift/gains and calibration aggregated from each fold's
 * held-out predictions file (the curves are read here, not carried through the workflow).
 */
export async function summariseFolds(input: { strategy: string; results: TrainResult[] }): Promise<CvSummary> {
  const folds = input.results.map((r) => r.metrics ?? {});
  const { mean, std } = aggregate(folds);
  const files = input.results.map((r) => r.predictionsPath).filter((p): p is string => !!p && existsSync(p));
  if (files.length !== input.results.length) return { strategy: input.strategy, folds, mean, std };
  const perFold = await withDuckDB(':memory:', async (conn) => {
    const out: { lift: LiftRow[]; calibration: CalibrationBin[] }[] = [];
    for (const f of files) {
      const r = await conn.runAndReadAll(`SELECT label, score FROM read_parquet($p) ORDER BY user_id`, { p: f });
      const [y, p] = r.getColumns().map((c) => Float64Array.from(c, Number));
      out.push({ lift: liftByDecile(y, p), calibration: calibrationBins(y, p) });
    }
    return out;
  });
  return {
    strategy: input.strategy,
    folds,
    mean,
    std,
    lift: aggregateLift(perFold.map((f) => f.lift)),
    calibration: aggregateCalibration(perFold.map((f) => f.calibration)),
  };
}
