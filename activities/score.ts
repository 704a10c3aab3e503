import { existsSync, readFileSync } from 'node:fs';
import { durationMs } from '../pipelines/schema';
import { columnSafe } from '../warehouse/features';
import { join } from 'node:path';
import type { LoadedPipeline } from '../pipelines/load';
import { withDuckDB } from '../warehouse/db';
import { readFeatureTable } from '../warehouse/matrix';
import { writeColumnsToParquet } from '../warehouse/parquet';
import { loadScorer } from '../ml/scorer';
import { readSequencesWithVocab } from '../ml/lstm';
import type { FeatureRef } from '../workflows/types';
import { cancellationSignal, failFastOnBadInput, heartbeat, InputError } from './context';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import { selectRows } from '../ml/classifier';

export interface ScoreResult {
  scoresPath: string;
  reasonsPath: string;
  users: number;
  modelVersion: string;
  /** Users given a churn risk (the customers at the cutoff), when the champion version has a churn model. */
  churnScored?: number;
  seconds: number;
}

/**
 * Scores every user of the run with the version the publish step decided (the champion after the gate for a live
 * run, the run's own model for a backtest), in batches, and writes scores.parquet (user_id, propensity,
 * model_version) and reasons.parquet (top 3 features that pushed each user's score up).
 */
export async function scoreUsers(input: {
  loaded: LoadedPipeline;
  runDir: string;
  features: FeatureRef;
  /** The version to score with, as decided by the publish step. */
  versionDir: string;
  version: string;
}): Promise<ScoreResult> {
  return failFastOnBadInput(async () => {
    const started = performance.now();
    const dir = input.versionDir;
    const version = input.version;
    const serialized = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as Parameters<typeof loadScorer>[0];
    const model = await loadScorer(serialized);
    return withDuckDB(':memory:', async (conn) => {
      const t = await readFeatureTable(conn, input.features.featuresPath, { idColumn: 'user_id', exclude: ['label'] });
      // Tabular models read columns by position: another feature list would score silently wrong (a champion the
      // gate found not comparable after the pipeline changed still serves until it is replaced).
      const expected = serialized.featureNames ?? [];
      if (expected.length && expected.join('\u0000') !== t.x.names.join('\u0000'))
        throw new InputError(
          `${version} was trained on other features (${expected.length}) than this run's (${t.x.names.length}), so it ` +
            `cannot score it: promote this run's version (funnelcast models promote) or run with --replace-incomparable`,
        );
      const sequences = model.needsSequences
        ? await readSequencesWithVocab(conn, input.features.sequencesPath, input.features.vocabPath)
        : undefined;
      const { p, reasons } = await scoreInBatches(model, t, sequences);
      model.dispose();
      const { churn, churnScored } = await churnRisks(input.loaded, join(dir, 'churn-model.json'), t);
      const { scoresPath, reasonsPath } = await writeScores(conn, input.runDir, t, { version, p, churn, reasons });
      return {
        scoresPath,
        reasonsPath,
        users: t.x.nRows,
        modelVersion: version,
        churnScored,
        seconds: (performance.now() - started) / 1000,
      };
    });
  });
}

type FeatureTable = Awaited<ReturnType<typeof readFeatureTable>>;
type Scorer = Awaited<ReturnType<typeof loadScorer>>;
const BATCH = 50_000;

/** Every user's propensity and top-3 reasons, in batches that heartbeat and yield (a batch is synchronous). */
async function scoreInBatches(
  model: Scorer,
  t: FeatureTable,
  sequences: Parameters<Scorer['predict']>[0]['sequences'],
) {
  const p = new Float64Array(t.x.nRows);
  const reasons: [string[], string[], string[]] = [[], [], []];
  for (let s = 0; s < t.x.nRows; s += BATCH) {
    const idx = Array.from({ length: Math.min(BATCH, t.x.nRows - s) }, (_, k) => s + k);
    const d = { x: selectRows(t.x, idx), ids: idx.map((i) => t.ids[i]), sequences };
    p.set(model.predict(d), s);
    const ex = model.explain?.(d, 3);
    for (let k = 0; k < idx.length; k++) for (let j = 0; j < 3; j++) reasons[j].push(ex?.names[k][j] ?? '');
    heartbeat({ scored: s + idx.length, total: t.x.nRows });
    // Scoring a batch is synchronous: give the event loop a turn so the heartbeat is actually sent.
    await nextTurn();
    cancellationSignal().throwIfAborted(); // a cancelled or timed-out attempt scores no further batch
  }
  return { p, reasons };
}

/**
 * Churn risk for the customers at the cutoff (the same rule the churn model was trained on), NaN → NULL for
 * everyone else; only when the champion version carries a churn model.
 */
async function churnRisks(loaded: LoadedPipeline, churnFile: string, t: FeatureTable) {
  const churnSpec = loaded.definition.churn;
  if (!churnSpec || !existsSync(churnFile)) return { churn: null, churnScored: 0 };
  const c = columnSafe(churnSpec.customersOf ?? loaded.definition.label.event);
  const n = t.x.names.indexOf(`n_${c}_total`);
  const since = t.x.names.indexOf(`days_since_last_${c}`);
  if (n < 0 || since < 0) throw new Error(`the features have no n_${c}_total / days_since_last_${c} columns`);
  const withinDays = durationMs(churnSpec.within) / 86_400_000;
  const customers: number[] = [];
  for (let i = 0; i < t.x.nRows; i++)
    if (t.x.columns[n][i] > 0 && t.x.columns[since][i] <= withinDays) customers.push(i);
  const churnModel = await loadScorer(JSON.parse(readFileSync(churnFile, 'utf8')));
  const churn = new Float64Array(t.x.nRows).fill(NaN);
  for (let s = 0; s < customers.length; s += BATCH) {
    const idx = customers.slice(s, s + BATCH);
    const q = churnModel.predict({ x: selectRows(t.x, idx), ids: idx.map((i) => t.ids[i]) });
    idx.forEach((i, k) => (churn[i] = q[k]));
    heartbeat({ churnScored: s + idx.length, customers: customers.length });
    await nextTurn(); // as above
    cancellationSignal().throwIfAborted();
  }
  churnModel.dispose();
  return { churn, churnScored: customers.length };
}

/** scores.parquet (user_id, propensity, model_version[, churn_risk]) and reasons.parquet (top 3 reasons). */
async function writeScores(
  conn: DuckDBConnection,
  runDir: string,
  t: FeatureTable,
  r: { version: string; p: Float64Array; churn: Float64Array | null; reasons: string[][] },
) {
  const scoresPath = join(runDir, 'scores.parquet');
  const reasonsPath = join(runDir, 'reasons.parquet');
  await writeColumnsToParquet(conn, scoresPath, [
    { name: 'user_id', type: 'VARCHAR', values: t.ids },
    { name: 'propensity', type: 'DOUBLE', values: r.p },
    { name: 'model_version', type: 'VARCHAR', values: t.ids.map(() => r.version) },
    ...(r.churn ? [{ name: 'churn_risk', type: 'DOUBLE' as const, values: r.churn }] : []),
  ]);
  await writeColumnsToParquet(conn, reasonsPath, [
    { name: 'user_id', type: 'VARCHAR', values: t.ids },
    { name: 'reason_1', type: 'VARCHAR', values: r.reasons[0] },
    { name: 'reason_2', type: 'VARCHAR', values: r.reasons[1] },
    { name: 'reason_3', type: 'VARCHAR', values: r.reasons[2] },
  ]);
  return { scoresPath, reasonsPath };
}
