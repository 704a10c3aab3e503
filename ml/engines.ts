/** Engine registry: the pipeline names an engine; this builds or loads the matching Classifier. */
import type { Classifier, SerializedModel } from './classifier';
import { BoostedTrees } from './boosted';
import { RandomForest } from './forest';
import { LogisticRegression } from './logistic';
import { MlRandomForest } from './mlrf';

export type TabularEngine = 'forest' | 'logistic' | 'mlrf' | 'boosted';
export const TABULAR_ENGINES: TabularEngine[] = ['forest', 'logistic', 'mlrf', 'boosted'];

export function createClassifier(engine: TabularEngine, params: Record<string, unknown> = {}, seed = 42): Classifier {
  if (engine === 'forest') return new RandomForest(params, seed);
  if (engine === 'logistic') return new LogisticRegression(params, seed);
  if (engine === 'mlrf') return new MlRandomForest(params, seed);
  if (engine === 'boosted') return new BoostedTrees(params, seed);
  throw new Error(`unknown engine "${engine}" (known: ${TABULAR_ENGINES.join(', ')})`);
}

export function deserializeClassifier(s: SerializedModel): Classifier & {
  explain?: (x: import('./classifier').FeatureMatrix, topK?: number) => { names: string[][]; values: Float64Array[] };
  /** Probabilities and reasons in one pass (the forest): reasons as indices into `names`, topK per row, −1 = none. */
  scoreWithReasons?: (
    x: import('./classifier').FeatureMatrix,
    topK?: number,
  ) => { p: Float64Array; names: string[]; codes: Int32Array };
} {
  if (s.engine === 'forest') return RandomForest.deserialize(s);
  if (s.engine === 'logistic') return LogisticRegression.deserialize(s);
  if (s.engine === 'mlrf') return MlRandomForest.deserialize(s);
  if (s.engine === 'boosted') return BoostedTrees.deserialize(s);
  throw new Error(`cannot load a model of engine "${s.engine}"`);
}
