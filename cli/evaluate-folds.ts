/**
 * The table `funnelcast evaluate` cross-validates on, and how one fold is fitted and predicted.
 *
 * The forest reads the table once, binned to one byte per value (warehouse/binned, streamed chunk by chunk), and
 * fits every fold on rows of that one shared table (fitBinned); a fold's test rows are decoded from the bins, which
 * predicts exactly as the raw values would. Reading Float32 columns and copying each fold's rows (then binning the
 * copy again) held about five times as much: on the 10 M-event run's 3.26 M-row table that was the difference
 * between fitting the memory budget and not. The bin edges come from the whole table's feature values (never its
 * labels), as in the pipeline's folds. Other engines train on Float32 columns and copy their rows per fold.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { createClassifier, type TabularEngine } from '../ml/engines';
import { selectLabels, selectRows } from '../ml/classifier';
import { RandomForest } from '../ml/forest';
import { decodeRows } from '../ml/forest/binning';
import { readBinnedTable } from '../warehouse/binned';
import { readFeatureTable, type ReadOptions } from '../warehouse/matrix';

export interface EvaluationTable {
  nRows: number;
  names: string[];
  y: Uint8Array;
  /** Fits a fresh model on rows `train` and predicts rows `test` (calibrated probabilities). */
  fitAndPredict(train: Uint32Array, test: Uint32Array): Promise<{ p: Float64Array; trainSeconds: number }>;
}

export async function readEvaluationTable(
  conn: DuckDBConnection,
  file: string,
  model: { engine: TabularEngine; params: Record<string, unknown>; seed: number },
  read: ReadOptions & { label: string },
): Promise<EvaluationTable> {
  const make = () => createClassifier(model.engine, model.params, model.seed);
  const probe = make();
  if (probe instanceof RandomForest) {
    const t = await readBinnedTable(conn, file, { ...read, maxBins: probe.params.maxBins });
    return {
      nRows: t.bins.nRows,
      names: t.names,
      y: t.y,
      async fitAndPredict(train, test) {
        const clf = make() as RandomForest;
        const started = performance.now();
        await clf.fitBinned(t.bins, t.names, t.y, train);
        const trainSeconds = (performance.now() - started) / 1000;
        const p = clf.predictProba({ nRows: test.length, names: t.names, columns: decodeRows(t.bins, test) });
        return { p, trainSeconds };
      },
    };
  }
  const t = await readFeatureTable(conn, file, read);
  const y = t.y!;
  return {
    nRows: t.x.nRows,
    names: t.x.names,
    y,
    async fitAndPredict(train, test) {
      const clf = make();
      const started = performance.now();
      await clf.fit(selectRows(t.x, train), selectLabels(y, train));
      const trainSeconds = (performance.now() - started) / 1000;
      return { p: clf.predictProba(selectRows(t.x, test)), trainSeconds };
    },
  };
}
