/**
 * One way to score users with any saved model, whatever its engine: tabular engines read the feature matrix, the
 * LSTM reads the users' event sequences, the blend averages the forest's and the LSTM's probabilities. Activities
 * (publish's champion re-scoring, scoring) use this and never branch on the engine themselves.
 */
import type { FeatureMatrix, SerializedModel } from './classifier';
import { deserializeClassifier } from './engines';
import { lstmFromSerialized, predictSequences, remapTokens, type Sequences, type SerializedLstmPayload } from './lstm';

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
  /** Top-k features that pushed each row's score up (tabular engines and the blend's forest part). */
  explain?(x: FeatureMatrix, topK: number): { names: string[][]; values: Float64Array[] };
  dispose(): void;
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
  return {
    engine: 'lstm',
    needsSequences: true,
    predict(d) {
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
      return predictSequences(model, seqs, idx);
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
      explain: forest.explain ? (x, k) => forest.explain!(x, k) : undefined,
      dispose: () => lstm.dispose(),
    };
  }
  const clf = deserializeClassifier(s);
  return {
    engine: s.engine,
    needsSequences: false,
    predict: (d) => clf.predictProba(d.x),
    explain: clf.explain ? (x, k) => clf.explain!(x, k) : undefined,
    dispose: () => undefined,
  };
}
