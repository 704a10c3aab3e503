/**
 * The splits a model is trained and evaluated on (k-fold, holdout, rolling time), and the rows of each.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { holdoutByUser, holdoutSplit, stratifiedKFold } from '../ml/cv';
import type { ModelSpec } from '../pipelines/schema';
import { readFeatureTable } from '../warehouse/matrix';

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
