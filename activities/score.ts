import { existsSync, readFileSync, rmSync } from 'node:fs';
import { durationMs } from '../pipelines/schema';
import { columnSafe } from '../warehouse/features';
import { join } from 'node:path';
import type { LoadedPipeline } from '../pipelines/load';
import { readFeatureTable } from '../warehouse/matrix';
import { appendColumns } from '../warehouse/parquet';
import { commitTemp, tempNameFor } from '../infra/atomic';
import { quoteLiteral, withDuckDB } from '../warehouse/db';
import { loadScorer, type CodedReasons } from '../ml/scorer';
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
      // Features are built with sequences only when something of the run read them then (activities/features.ts):
      // a version that needs them and came after (a later LSTM champion, a rerun from score) gets a clear error
      // that says how to build them, not DuckDB's "no files found" retried five times.
      if (model.needsSequences && !input.features.sequencesPath)
        throw new InputError(
          `${version} reads users' event sequences (an LSTM or a blend with one), but this run's features were built ` +
            `without them (no model of the run read them then): rerun from the features step ` +
            `(funnelcast rerun <run> --from features), which builds them for it`,
        );
      const sequences = model.needsSequences
        ? await readSequencesWithVocab(conn, input.features.sequencesPath, input.features.vocabPath)
        : undefined;
      const { p, reasons } = await scoreInBatches(model, t, sequences);
      model.dispose();
      const { churn, churnScored } = await churnRisks(input.loaded, join(dir, 'churn-model.json'), t);
      const { scoresPath, reasonsPath } = await writeScores(conn, input.runDir, input.features.featuresPath, {
        version,
        p,
        churn,
        reasons,
      });
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
const TOP_K = 3;
/**
 * Rows per batch: a tabular batch is one shared chunk of the forest's threads (32 blocks of 8192 rows, so the two
 * threads stay busy to its end; at 50,000 rows, 7 blocks, one waited for the other at the end of every batch).
 * The LSTM's batches stay small (its tensors).
 */
const BATCH = 262_144;
const SEQUENCE_BATCH = 50_000;

/** Rows [from, to) of the table: views of its columns, no copy. */
const rowsOf = (t: FeatureTable, from: number, to: number) => ({
  x: { nRows: to - from, names: t.x.names, columns: t.x.columns.map((c) => c.subarray(from, to)) },
  ids: t.ids.slice(from, to),
});

/**
 * Every user's propensity and top-3 reasons, in batches that heartbeat and yield (a batch is synchronous). The
 * reasons stay numbers: codes into `names`, a dictionary gathered over the batches (the forest's are its features).
 */
async function scoreInBatches(
  model: Scorer,
  t: FeatureTable,
  sequences: Parameters<Scorer['predict']>[0]['sequences'],
) {
  const n = t.x.nRows;
  const p = new Float64Array(n);
  const codes = new Int32Array(n * TOP_K);
  const names: string[] = [];
  const codeOf = new Map<string, number>();
  const batch = model.needsSequences ? SEQUENCE_BATCH : BATCH;
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch);
    const r = model.scoreWithReasons({ ...rowsOf(t, s, e), sequences }, TOP_K);
    p.set(r.p, s);
    // This batch's codes in the run's dictionary.
    const global = r.reasons.names.map((name) => {
      let c = codeOf.get(name);
      if (c === undefined) codeOf.set(name, (c = names.push(name) - 1));
      return c;
    });
    for (let k = 0; k < r.reasons.codes.length; k++) {
      const c = r.reasons.codes[k];
      codes[s * TOP_K + k] = c < 0 ? -1 : global[c];
    }
    heartbeat({ scored: e, total: n });
    // Scoring a batch is synchronous: give the event loop a turn so the heartbeat is actually sent.
    await nextTurn();
    cancellationSignal().throwIfAborted(); // a cancelled or timed-out attempt scores no further batch
  }
  return { p, reasons: { names, codes } };
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

/**
 * scores.parquet (user_id, propensity, model_version[, churn_risk]) and reasons.parquet (user_id, reason_1..3):
 * JS hands DuckDB numbers only (scores, reason codes), and DuckDB takes the user ids from the feature table by
 * position (scoring read it in file order) and the reason names from the dictionary. Building 4.3 M id and reason
 * strings in JS and appending them one value at a time was most of this step's writing (issue 17).
 */
async function writeScores(
  conn: DuckDBConnection,
  runDir: string,
  featuresPath: string,
  r: { version: string; p: Float64Array; churn: Float64Array | null; reasons: CodedReasons },
) {
  const scoresPath = join(runDir, 'scores.parquet');
  const reasonsPath = join(runDir, 'reasons.parquet');
  const n = r.p.length;
  const reason = (j: number) => Int32Array.from({ length: n }, (_, i) => r.reasons.codes[i * TOP_K + j]);
  await conn.run(
    'CREATE OR REPLACE TEMP TABLE scored (propensity DOUBLE, churn_risk DOUBLE, r1 INTEGER, r2 INTEGER, r3 INTEGER)',
  );
  try {
    const appender = await conn.createAppender('scored');
    appendColumns(appender, [
      { name: 'propensity', type: 'DOUBLE', values: r.p },
      { name: 'churn_risk', type: 'DOUBLE', values: r.churn ?? new Float64Array(n).fill(NaN) },
      ...[0, 1, 2].map((j) => ({ name: `r${j + 1}`, type: 'INTEGER' as const, values: reason(j) })),
    ]);
    appender.closeSync();
    // By position: the ids in the order scoring read them (readFeatureTable reads the file in its order). A
    // positional scan runs on one thread; a second one only spun (segments/index.ts), and this DuckDB is ours.
    await conn.run('SET threads = 1');
    const users = `(SELECT user_id FROM read_parquet(${quoteLiteral(featuresPath)})) f POSITIONAL JOIN scored s`;
    const read = await conn.runAndReadAll(`SELECT count(f.user_id), count(s.propensity) FROM ${users}`);
    const [ids, scores] = read.getRows()[0].map(Number);
    if (ids !== n || scores !== n) throw new Error(`${featuresPath}: ${ids} users for ${n} scores`);
    const version = `CAST(${quoteLiteral(r.version)} AS VARCHAR) AS model_version`;
    await copyTo(
      conn,
      `SELECT f.user_id, s.propensity, ${version}${r.churn ? ', s.churn_risk' : ''} FROM ${users}`,
      scoresPath,
    );
    // A reason code indexes the dictionary (1-based in SQL); −1 (no further reason) gives '' as before.
    const dictionary = `[${r.reasons.names.map(quoteLiteral).join(', ')}]::VARCHAR[]`;
    const named = (j: number) => `coalesce((${dictionary})[s.r${j} + 1], '') AS reason_${j}`;
    await copyTo(conn, `SELECT f.user_id, ${[1, 2, 3].map(named).join(', ')} FROM ${users}`, reasonsPath);
  } finally {
    await conn.run('DROP TABLE IF EXISTS scored');
  }
  return { scoresPath, reasonsPath };
}

/** The rows of `select` as a Parquet file, written under a temp name and renamed. */
async function copyTo(conn: DuckDBConnection, select: string, file: string) {
  const tmp = tempNameFor(file);
  try {
    await conn.run(`COPY (${select}) TO ${quoteLiteral(tmp)} (FORMAT parquet, COMPRESSION zstd)`);
    commitTemp(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}
