/**
 * One way to score users with any saved model, whatever its engine: tabular engines read the feature matrix, the
 * LSTM reads the users' event sequences, the blend averages the forest's and the LSTM's probabilities. Activities
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
  dispose(): void;
}

export interface Explanation {
  names: string[][];
  values: Float64Array[];
}

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
  /** Weight of each part's probability; they sum to 1. */
  weights: { forest: number; lstm: number };
  forest: SerializedModel;
  lstm: SerializedModel;
}

async function lstmScorer(s: SerializedModel): Promise<Scorer> {
  const payload = s.payload as SerializedLstmPayload;
  const model = await lstmFromSerialized(payload);
  // The users' sequences in the model's vocabulary, and the row of each requested id.
  const rowsOf = (d: ScoringData) => {
    if (!d.sequences) throw new Error('the LSTM needs the users’ sequences (sequences.parquet)');
    const seqs = remapTokens(d.sequences.data, d.sequences.vocab, payload.metadata.vocab);
    if (seqs.length !== payload.metadata.sequenceLength)
      throw new Error(
        `sequences have ${seqs.length} steps but the model was trained on ${payload.metadata.sequenceLength}`,
      );
    const row = new Map(seqs.ids.map((id, i) => [id, i]));
    const idx = d.ids.map((id) => {
      const i = row.get(id);
      if (i === undefined) throw new Error(`user ${id} has features but no sequence`);
      return i;
    });
    return { seqs, idx };
  };
  return {
    engine: 'lstm',
    needsSequences: true,
    predict(d) {
      const { seqs, idx } = rowsOf(d);
      return predictSequences(model, seqs, idx);
    },
    explain(d, k) {
      const { seqs, idx } = rowsOf(d);
      const e = explainSequences(model, seqs, payload.metadata.vocab, idx, k);
      return { names: e.names, values: e.values };
    },
    dispose: () => model.dispose(),
  };
}

export async function loadScorer(s: SerializedModel): Promise<Scorer> {
  if (s.engine === 'lstm') return lstmScorer(s);
  if (s.engine === 'blend') {
    const b = s.payload as BlendPayload;
    const forest = deserializeClassifier(b.forest);
    const lstm = await lstmScorer(b.lstm);
    return {
      engine: 'blend',
      needsSequences: true,
      predict(d) {
        const pf = forest.predictProba(d.x);
        const pl = lstm.predict(d);
        return pf.map((p, i) => b.weights.forest * p + b.weights.lstm * pl[i]);
      },
      explain(d, k) {
        const parts = [{ weight: b.weights.lstm, e: lstm.explain!(d, k) }];
        if (forest.explain) parts.push({ weight: b.weights.forest, e: forest.explain(d.x, k) });
        return mergeReasons(parts, d.ids.length, k);
      },
      dispose: () => lstm.dispose(),
    };
  }
  const clf = deserializeClassifier(s);
  return {
    engine: s.engine,
    needsSequences: false,
    predict: (d) => clf.predictProba(d.x),
    explain: clf.explain ? (d, k) => clf.explain!(d.x, k) : undefined,
    dispose: () => undefined,
  };
}
