/**
 * One way to score users with any saved model, whatever its engine: tabular engines read the feature matrix, the
 * LSTM reads the users' event sequences, the blend averages the forest's and the LSTM's log-odds. Activities
 * (publish's champion re-scoring, scoring) use this and never branch on the engine themselves.
 */
import type { FeatureMatrix, SerializedModel } from './classifier';
import { deserializeClassifier } from './engines';
import {
  explainSequences,
  lstmFromSerialized,
  predictSequences,
  remapTokens,
  type Sequences,
  type SerializedLstmPayload,
  withoutClassWeighting,
} from './lstm';

export interface ScoringData {
  /** Feature rows, one per id in `ids`. */
  x: FeatureMatrix;
  ids: string[];
  /** The same users' sequences (any order) and the vocabulary their tokens use; needed by lstm and blend. */
  sequences?: { data: Sequences; vocab: Record<string, number> };
}

export interface Scorer {
  engine: string;
  needsSequences: boolean;
  /** Probability of the positive class for each id of `d.ids`, in that order. */
  predict(d: ScoringData): Float64Array;
  /**
   * The top-k reasons that pushed each user's score up, for the ids of `d.ids` in that order: tree path or
   * coefficient contributions for tabular engines, occlusion of event types for the LSTM (`seq_<event>`), both
   * weighted for the blend. Values are in probability units, so the blend's parts can be ranked together.
   */
  explain?(d: ScoringData, topK: number): Explanation;
  /**
   * predict and the top-k reasons together, the reasons as codes (no string per user): what scoring every user
   * needs. The forest gets both from one walk of its trees; the other engines predict, then explain.
   */
  scoreWithReasons(d: ScoringData, topK: number): { p: Float64Array; reasons: CodedReasons };
  dispose(): void;
}

export interface Explanation {
  names: string[][];
  values: Float64Array[];
}

/** Each row's top reasons as codes into `names`: row i's at [i * topK, (i + 1) * topK), −1 past the last. */
export interface CodedReasons {
  names: string[];
  codes: Int32Array;
}

/** An explanation's reasons as codes (`names` holds the ones that occur, in order of first appearance). */
export function codeReasons(e: Explanation | undefined, n: number, topK: number): CodedReasons {
  const names: string[] = [];
  const codeOf = new Map<string, number>();
  const codes = new Int32Array(n * topK).fill(-1);
  for (let i = 0; e && i < n; i++)
    for (let j = 0; j < Math.min(topK, e.names[i].length); j++) {
      const name = e.names[i][j];
      let c = codeOf.get(name);
      if (c === undefined) codeOf.set(name, (c = names.push(name) - 1));
      codes[i * topK + j] = c;
    }
  return { names, codes };
}

/** scoreWithReasons for a scorer that predicts and explains separately. */
const predictThenExplain =
  (s: Pick<Scorer, 'predict' | 'explain'>): Scorer['scoreWithReasons'] =>
  (d, topK) => ({ p: s.predict(d), reasons: codeReasons(s.explain?.(d, topK), d.ids.length, topK) });

/** Merges per-part reasons weighted by each part's share of the score (a reason in both parts adds up). */
function mergeReasons(parts: { weight: number; e: Explanation }[], n: number, topK: number): Explanation {
  const names: string[][] = [];
  const values: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    const total = new Map<string, number>();
    for (const { weight, e } of parts)
      e.names[i].forEach((nm, j) => total.set(nm, (total.get(nm) ?? 0) + weight * e.values[i][j]));
    const top = [...total.entries()].filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    names.push(top.slice(0, topK).map(([nm]) => nm));
    values.push(Float64Array.from(top.slice(0, topK), ([, v]) => v));
  }
  return { names, values };
}

export interface BlendPayload {
  /** Weight of each part, by engine; they sum to 1. */
  weights: Record<string, number>;
  /**
   * How the parts' probabilities combine: 'logit', the weighted mean of their log-odds (a weighted geometric mean
   * of the odds); absent in blends published before it, the weighted mean of the probabilities.
   */
  combine?: 'logit';
  /** Each part's model by engine, in the definition's order (`model.blend.parts`). */
  parts?: Record<string, SerializedModel>;
  /** Blends published before the parts could be chosen: always the forest and the LSTM. */
  forest?: SerializedModel;
  lstm?: SerializedModel;
}

/** The parts of a blend, by engine, whichever format it was published in. */
export function blendParts(b: BlendPayload): [string, SerializedModel][] {
  if (b.parts) return Object.entries(b.parts);
  if (!b.forest || !b.lstm) throw new Error('a blend model without its parts');
  return [
    ['forest', b.forest],
    ['lstm', b.lstm],
  ];
}

const logit = (p: number) => {
  const q = Math.min(1 - 1e-7, Math.max(1e-7, p));
  return Math.log(q / (1 - q));
};

/**
 * The blend's probability from its parts' (`ps[k]` weighted by `weights[k]`). Every part gives calibrated
 * probabilities (the LSTM's without its class weighting), and averaging their log-odds keeps a part's confident
 * "no" as strong as its confident "yes": on the sample's three CV folds, forest + LSTM gave ROC AUC 0.793 / 0.807 /
 * 0.828 against the forest's 0.783 / 0.803 / 0.824 and the probability average's 0.785 / 0.804 / 0.822.
 */
export function blendOf(ps: ArrayLike<number>, weights: ArrayLike<number>, combine?: 'logit'): number {
  let z = 0;
  for (let k = 0; k < ps.length; k++) z += weights[k] * (combine === 'logit' ? logit(ps[k]) : ps[k]);
  return combine === 'logit' ? 1 / (1 + Math.exp(-z)) : z;
}

/** The forest + LSTM blend's probability (the blend before its parts could be chosen). */
export function blendProbability(forest: number, lstm: number, b: Pick<BlendPayload, 'weights' | 'combine'>): number {
  return blendOf([forest, lstm], [b.weights.forest ?? 0, b.weights.lstm ?? 0], b.combine);
}

async function lstmScorer(s: SerializedModel): Promise<Scorer> {
  const payload = s.payload as SerializedLstmPayload;
  const model = await lstmFromSerialized(payload);
  // The users' sequences in the model's vocabulary and each user's row, made once per sequences object: scoring
  // passes every batch the same sequences of all users, and remapping and indexing them per batch (twice: predict
  // and explain) cost 4.3 M users' tokens and ids 170 times at 10 M events.
  const remapped = new WeakMap<object, { seqs: Sequences; row: Map<string, number> }>();
  const remap = (given: NonNullable<ScoringData['sequences']>) => {
    let r = remapped.get(given);
    if (!r) {
      const seqs = remapTokens(given.data, given.vocab, payload.metadata.vocab);
      r = { seqs, row: new Map(seqs.ids.map((id, i) => [id, i])) };
      remapped.set(given, r);
    }
    return r;
  };
  const rowsOf = (d: ScoringData) => {
    if (!d.sequences) throw new Error('the LSTM needs the users’ sequences (sequences.parquet)');
    if (d.sequences.data.length !== payload.metadata.sequenceLength)
      throw new Error(
        `sequences have ${d.sequences.data.length} steps but the model was trained on ${payload.metadata.sequenceLength}`,
      );
    const { seqs, row } = remap(d.sequences);
    const idx = d.ids.map((id) => {
      const i = row.get(id);
      if (i === undefined) throw new Error(`user ${id} has features but no sequence`);
      return i;
    });
    return { seqs, idx };
  };
  // Probabilities without the class weighting the model trained with (identity for models saved before it).
  const calibrated = (p: number) => withoutClassWeighting(p, payload.metadata.classWeight);
  const scorer: Omit<Scorer, 'scoreWithReasons'> = {
    engine: 'lstm',
    needsSequences: true,
    predict(d) {
      const { seqs, idx } = rowsOf(d);
      return predictSequences(model, seqs, idx).map(calibrated);
    },
    explain(d, k) {
      const { seqs, idx } = rowsOf(d);
      const e = explainSequences(model, seqs, payload.metadata.vocab, idx, k);
      // Each reason's score drop, in calibrated probabilities: from score to score - drop, both corrected.
      const values = e.values.map((v, i) => v.map((drop) => calibrated(e.scores[i]) - calibrated(e.scores[i] - drop)));
      return { names: e.names, values };
    },
    dispose: () => model.dispose(),
  };
  return { ...scorer, scoreWithReasons: predictThenExplain(scorer) };
}

export async function loadScorer(s: SerializedModel): Promise<Scorer> {
  if (s.engine === 'lstm') return lstmScorer(s);
  if (s.engine === 'blend') return blendScorer(s.payload as BlendPayload);
  const clf = deserializeClassifier(s);
  const scorer: Omit<Scorer, 'scoreWithReasons'> = {
    engine: s.engine,
    needsSequences: false,
    predict: (d) => clf.predictProba(d.x),
    explain: clf.explain ? (d, k) => clf.explain!(d.x, k) : undefined,
    dispose: () => undefined,
  };
  const oneWalk = clf.scoreWithReasons?.bind(clf);
  return {
    ...scorer,
    scoreWithReasons: oneWalk
      ? (d, k) => {
          const r = oneWalk(d.x, k);
          return { p: r.p, reasons: { names: r.names, codes: r.codes } };
        }
      : predictThenExplain(scorer),
  };
}

async function blendScorer(b: BlendPayload): Promise<Scorer> {
  const parts: { weight: number; scorer: Scorer }[] = [];
  try {
    for (const [engine, model] of blendParts(b))
      parts.push({ weight: b.weights[engine], scorer: await loadScorer(model) });
  } catch (e) {
    for (const p of parts) p.scorer.dispose();
    throw e;
  }
  const weights = parts.map((p) => p.weight);
  const scorer: Omit<Scorer, 'scoreWithReasons'> = {
    engine: 'blend',
    needsSequences: parts.some((p) => p.scorer.needsSequences),
    predict(d) {
      const each = parts.map((p) => p.scorer.predict(d));
      const ps = new Float64Array(parts.length);
      return Float64Array.from(d.ids, (_, i) => {
        for (let k = 0; k < each.length; k++) ps[k] = each[k][i];
        return blendOf(ps, weights, b.combine);
      });
    },
    explain(d, k) {
      const reasons = parts
        .filter((p) => p.scorer.explain)
        .map((p) => ({ weight: p.weight, e: p.scorer.explain!(d, k) }));
      return mergeReasons(reasons, d.ids.length, k);
    },
    dispose: () => parts.forEach((p) => p.scorer.dispose()),
  };
  return { ...scorer, scoreWithReasons: predictThenExplain(scorer) };
}
