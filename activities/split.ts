/**
 * The splits a model is trained and evaluated on (k-fold, holdout, rolling time), and the rows of each.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { selectLabels, selectRows, type FeatureMatrix, type FitOptions } from '../ml/classifier';
import { holdoutByUser, holdoutSplit, stratifiedKFold } from '../ml/cv';
import type { createClassifier } from '../ml/engines';
import { RandomForest } from '../ml/forest';
import { decodeRows } from '../ml/forest/binning';
import type { ModelSpec } from '../pipelines/schema';
import { acquireBinnedTable } from '../warehouse/binned';
import { readFeatureTable, type FeatureEncoding } from '../warehouse/matrix';

export type Split =
  | { kind: 'holdout' }
  | { kind: 'fold'; strategy: string; k: number; i: number }
  /** Rolling time split: train on the features at one cutoff, validate on the next (one horizon later). */
  | { kind: 'time'; k: number; i: number; trainFeaturesPath: string; validFeaturesPath: string };

/**
 * Held-out users by a hash of their id (the same users in every run, so champion and challenger are compared on
 * users neither trained on); when that leaves one class out of the test set (small or very imbalanced data), a
 * stratified random holdout instead, so the model can still be evaluated.
 */
export function holdout(ids: string[], y: Uint8Array, fraction: number, seed: number) {
  const byUser = holdoutByUser(ids, fraction, seed);
  let pos = 0;
  for (const i of byUser.test) pos += y[i];
  return pos > 0 && pos < byUser.test.length ? byUser : holdoutSplit(y, fraction, seed);
}

export const splitName = (s: Split) =>
  s.kind === 'holdout' ? 'holdout' : s.kind === 'time' ? `time${s.i + 1}of${s.k}` : `fold${s.i + 1}of${s.k}`;

/** The feature table of a tabular split with its train and test rows (a time fold stacks its two cutoffs' tables). */
export async function readTabularSplit(conn: DuckDBConnection, featuresPath: string, s: Split, model: ModelSpec) {
  const seed = model.seed;
  // A time fold stacks the two cutoffs' tables: rows of the earlier one train, rows of the later one validate.
  const table = await readFeatureTable(conn, s.kind === 'time' ? s.trainFeaturesPath : featuresPath, {
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
      ? holdout(table.ids, y, model.holdout, seed)
      : stratifiedKFold(y, (s as { k: number }).k, seed)[(s as { i: number }).i]);
  return { table, y, train, test };
}

/** A fitted model's held-out rows: features, labels, user ids, and the encoding and size of what it trained on. */
interface FittedSplit {
  xTest: FeatureMatrix;
  yTest: Uint8Array;
  testIds: string[];
  encoding: FeatureEncoding;
  nTrain: number;
  trainSeconds: number;
}

/**
 * Fits `clf` on the split's training rows. The forest trains on the process's one binned copy of the table
 * (warehouse/binned: 1 byte per value, read once per process and lent to every fold's and the holdout model's
 * thread, nothing copied per fold) and
 * its held-out rows are decoded from the bins, which predicts exactly as the raw values would; other engines
 * (and rolling time folds, which stack two tables) read the Float32 table and copy their rows.
 */
export async function fitOnSplit(
  conn: DuckDBConnection,
  input: { featuresPath: string; split: Split; model: ModelSpec },
  clf: ReturnType<typeof createClassifier>,
  opts: FitOptions,
): Promise<FittedSplit> {
  const s = input.split;
  const seed = input.model.seed;
  if (clf instanceof RandomForest && s.kind !== 'time') {
    const { table: t, release } = await acquireBinnedTable(input.featuresPath, clf.params.maxBins);
    try {
      const { train, test } =
        s.kind === 'holdout'
          ? holdout(t.ids.all(), t.y, input.model.holdout, seed)
          : stratifiedKFold(t.y, s.k, seed)[s.i];
      const started = performance.now();
      await clf.fitBinned(t.bins, t.names, t.y, train, opts);
      return {
        xTest: { nRows: test.length, names: t.names, columns: decodeRows(t.bins, test) },
        yTest: selectLabels(t.y, test),
        testIds: Array.from(test, (i) => t.ids.at(i)),
        encoding: t.encoding,
        nTrain: train.length,
        trainSeconds: (performance.now() - started) / 1000,
      };
    } finally {
      release();
    }
  }
  const { table, y, train, test } = await readTabularSplit(conn, input.featuresPath, s, input.model);
  const started = performance.now();
  await clf.fit(selectRows(table.x, train), selectLabels(y, train), opts);
  return {
    xTest: selectRows(table.x, test),
    yTest: selectLabels(y, test),
    testIds: Array.from(test, (i) => table.ids[i]),
    encoding: table.encoding,
    nTrain: train.length,
    trainSeconds: (performance.now() - started) / 1000,
  };
}
