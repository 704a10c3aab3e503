/**
 * The contract every tabular model implements (our forest, ml-random-forest, logistic regression), so the
 * training activity, cross-validation and `funnelcast evaluate` never care which engine they hold.
 *
 * Data layout: a column-major feature matrix (one Float32Array per feature, NaN = missing), labels as 0/1.
 * Column-major because features arrive column by column from DuckDB/Arrow and histogram binning works per
 * column.
 */
export interface FeatureMatrix {
  /** Number of rows (users). */
  nRows: number;
  /** Feature names, in column order. */
  names: string[];
  /** columns[j][i] = value of feature j for row i; NaN means missing. */
  columns: Float32Array[];
}

export interface FitOptions {
  /** Optional per-row weights (multiplied with class weights). */
  sampleWeight?: Float32Array;
  /** Called now and then during long fits (trees done, iterations) so an activity can heartbeat. */
  onProgress?: (p: { done: number; total: number; unit: string }) => void;
  /** Aborts a long fit (Temporal activity cancellation): no checkpoint is written after it fires. */
  signal?: AbortSignal;
  /** Goes into the temp names of checkpoint files, so two attempts of one fit never share one. */
  writerTag?: string;
  /**
   * A folder where engines that support it save progress as they go (the forest: each finished tree) and from
   * which a repeated fit resumes, e.g. after a worker crash. Same data and seed give the same model either way.
   */
  checkpointDir?: string;
}

export interface FeatureImportance {
  name: string;
  importance: number;
}

export interface SerializedModel {
  /** Engine name, e.g. 'forest', 'logistic', 'mlrf'. */
  engine: string;
  /** Bumped whenever the serialized layout changes; loaders refuse versions they do not know. */
  formatVersion: number;
  featureNames: string[];
  /** Engine-specific payload (JSON-safe). */
  payload: unknown;
}

export interface Classifier {
  readonly engine: string;
  fit(x: FeatureMatrix, y: Uint8Array, options?: FitOptions): Promise<void>;
  /** Probability of the positive class for each row. */
  predictProba(x: FeatureMatrix): Float64Array;
  featureImportances(): FeatureImportance[];
  serialize(): SerializedModel;
}

/** The rows `idx` of a matrix (used for folds and holdout splits). */
export function selectRows(x: FeatureMatrix, idx: ArrayLike<number>): FeatureMatrix {
  const columns = x.columns.map((col) => {
    const out = new Float32Array(idx.length);
    for (let i = 0; i < idx.length; i++) out[i] = col[idx[i]];
    return out;
  });
  return { nRows: idx.length, names: x.names, columns };
}

/** The rows of `x` repeated `times` times (large batches built from a smaller data set: tests, benchmarks). */
export function repeatRows(x: FeatureMatrix, times: number): FeatureMatrix {
  return {
    nRows: x.nRows * times,
    names: x.names,
    columns: x.columns.map((c) => {
      const out = new Float32Array(c.length * times);
      for (let k = 0; k < times; k++) out.set(c, k * c.length);
      return out;
    }),
  };
}

export function selectLabels(y: Uint8Array, idx: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = y[idx[i]];
  return out;
}
