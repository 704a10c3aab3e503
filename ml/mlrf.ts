/**
 * ml-random-forest behind our Classifier interface: kept as a selectable engine (compatibility) and as the
 * reference in benchmarks. Note it samples features once per tree, not per split, and is ~300× slower than
 * scikit-learn; NaN is replaced by the training column mean because its trees do not handle missing values.
 * Its vote fractions are calibrated like our forest's, by Platt scaling, here on 3-fold cross-fitted votes (it
 * has no usable out-of-bag votes), which makes a fit four times as long.
 */
import { RandomForestClassifier } from 'ml-random-forest';
import type { Classifier, FeatureImportance, FeatureMatrix, FitOptions, SerializedModel } from './classifier';
import { applyCalibration, crossFittedScores, fitCalibration, type Calibration } from './calibration';

export const MLRF_FORMAT_VERSION = 1;

export interface MlrfParams {
  nEstimators: number;
  maxDepth: number;
  maxFeatures: number;
}

export class MlRandomForest implements Classifier {
  readonly engine = 'mlrf';
  readonly params: MlrfParams;
  private model: RandomForestClassifier | null = null;
  featureNames: string[] = [];
  means: number[] = [];
  calibration: Calibration | null = null;
  private uncalibratedPart = false;

  constructor(
    params: Partial<MlrfParams> = {},
    readonly seed = 42,
  ) {
    this.params = { nEstimators: 50, maxDepth: 10, maxFeatures: 0.5, ...params };
  }

  private rows(x: FeatureMatrix): number[][] {
    const pos = new Map(x.names.map((n, j) => [n, j]));
    const cols = this.featureNames.map(
      (n) =>
        x.columns[pos.get(n) ?? -1] ??
        (() => {
          throw new Error(`the data lacks the feature "${n}"`);
        })(),
    );
    return Array.from({ length: x.nRows }, (_, i) => cols.map((c, j) => (Number.isNaN(c[i]) ? this.means[j] : c[i])));
  }

  async fit(x: FeatureMatrix, y: Uint8Array, options: FitOptions = {}): Promise<void> {
    this.featureNames = [...x.names];
    this.means = x.columns.map((c) => {
      let s = 0,
        k = 0;
      for (let i = 0; i < x.nRows; i++) {
        if (!Number.isNaN(c[i])) {
          s += c[i];
          k++;
        }
      }
      return k ? s / k : 0;
    });
    this.model = new RandomForestClassifier({
      nEstimators: this.params.nEstimators,
      maxFeatures: this.params.maxFeatures,
      seed: this.seed,
      useSampleBagging: true,
      replacement: false,
      noOOB: true,
      treeOptions: { maxDepth: this.params.maxDepth },
    } as never);
    options.onProgress?.({ done: 0, total: 1, unit: 'forest' });
    this.model.train(this.rows(x), Array.from(y));
    options.onProgress?.({ done: 1, total: 1, unit: 'forest' });
    this.calibration = null;
    if (this.uncalibratedPart) return;
    const part = () => {
      const m = new MlRandomForest(this.params, this.seed);
      m.uncalibratedPart = true;
      return m;
    };
    this.calibration = fitCalibration(await crossFittedScores(part, x, y, 3, this.seed), y, 'cross-fitted');
  }

  predictProba(x: FeatureMatrix): Float64Array {
    if (!this.model) throw new Error('the model is not trained');
    const votes = Float64Array.from(
      (this.model as unknown as { predictProbability(r: number[][], label: number): number[] }).predictProbability(
        this.rows(x),
        1,
      ),
    );
    return applyCalibration(this.calibration, votes);
  }

  featureImportances(): FeatureImportance[] {
    return this.featureNames.map((name) => ({ name, importance: 1 / this.featureNames.length }));
  }

  serialize(): SerializedModel {
    return {
      engine: 'mlrf',
      formatVersion: MLRF_FORMAT_VERSION,
      featureNames: this.featureNames,
      payload: {
        params: this.params,
        seed: this.seed,
        means: this.means,
        model: this.model?.toJSON(),
        calibration: this.calibration,
      },
    };
  }

  static deserialize(s: SerializedModel): MlRandomForest {
    const p = s.payload as {
      params: MlrfParams;
      seed: number;
      means: number[];
      model: unknown;
      calibration?: Calibration | null;
    };
    const m = new MlRandomForest(p.params, p.seed);
    m.featureNames = [...s.featureNames];
    m.means = p.means;
    m.calibration = p.calibration ?? null;
    m.model = RandomForestClassifier.load(p.model as never);
    return m;
  }
}
