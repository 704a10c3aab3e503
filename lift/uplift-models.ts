/**
 * Uplift models on our forest (ml/forest), trained from a randomised campaign's users (features, treatment 0/1,
 * outcome 0/1), each returning a scorer of predicted uplift = P(convert | treated) − P(convert | not treated):
 * - T-learner ("two models"): one forest on the treated users, one on the controls, uplift = difference;
 * - class transformation (Jaskowski & Jaroszewicz 2012): z = 1 when (treated and converted) or (control and did
 *   not), one forest on z with the arms weighted to equal size, uplift = 2 P(z = 1) − 1.
 * No Temporal; the same functions serve `evaluate --uplift` and a pipeline's uplift step.
 */
import { selectLabels, selectRows, type FeatureMatrix } from '../ml/classifier';
import { RandomForest } from '../ml/forest';
import type { ForestParams } from '../pipelines/schema/model';

export type UpliftScorer = (x: FeatureMatrix) => Float64Array;
export type UpliftModelKind = 't_learner' | 'class_transformation';

export interface UpliftData {
  x: FeatureMatrix;
  y: Uint8Array;
  /** 1 = treatment (received the campaign), 0 = control. */
  t: Uint8Array;
}

const rowsWhere = (t: Uint8Array, arm: number) => Array.from(t.keys()).filter((i) => t[i] === arm);

function checkArms(d: UpliftData): void {
  const treated = d.t.reduce((a, v) => a + v, 0);
  if (treated === 0 || treated === d.t.length)
    throw new Error(`uplift needs treated and control users: ${treated} of ${d.t.length} are treated`);
}

export async function fitTLearner(d: UpliftData, params: Partial<ForestParams>, seed: number): Promise<UpliftScorer> {
  checkArms(d);
  const arms = [1, 0].map((arm) => rowsWhere(d.t, arm));
  const models = arms.map((_, k) => new RandomForest(params, seed + k, 1));
  for (const [k, rows] of arms.entries()) await models[k].fit(selectRows(d.x, rows), selectLabels(d.y, rows));
  return (x) => {
    const [treated, control] = models.map((m) => m.predictProba(x));
    return treated.map((p, i) => p - control[i]);
  };
}

export async function fitClassTransformation(
  d: UpliftData,
  params: Partial<ForestParams>,
  seed: number,
): Promise<UpliftScorer> {
  checkArms(d);
  const share = d.t.reduce((a, v) => a + v, 0) / d.t.length;
  const z = d.y.map((y, i) => (y === d.t[i] ? 1 : 0));
  // Weighting each arm to half the data makes 2 P(z = 1) − 1 the uplift whatever the treated share was.
  const sampleWeight = Float32Array.from(d.t, (t) => (t ? 0.5 / share : 0.5 / (1 - share)));
  const model = new RandomForest({ ...params, classWeight: 'none' }, seed, 1);
  await model.fit(d.x, z, { sampleWeight });
  return (x) => model.predictProba(x).map((p) => 2 * p - 1);
}

export async function fitUplift(
  kind: UpliftModelKind,
  d: UpliftData,
  params: Partial<ForestParams>,
  seed: number,
): Promise<UpliftScorer> {
  return kind === 't_learner' ? fitTLearner(d, params, seed) : fitClassTransformation(d, params, seed);
}
