/**
 * Training and scoring batches of event sequences, in the two layouts the LSTM runs on: tfjs-layers' batch-major
 * [B, T, F] (every backend) and the fused kernels' time-major, compacted [T', B, F] (tfjs-node). Made per batch,
 * never for all sequences at once.
 */
import * as tf from '@tensorflow/tfjs';

export interface Sequences {
  ids: string[];
  labels: Uint8Array;
  /** n × T token ids. */
  tokens: Int32Array;
  /** n × T × 2 numeric inputs (log1p gap hours, log1p revenue). */
  numeric: Float32Array;
  length: number;
}

/** The token vocabulary size a model takes: its input is [T, V + 2] (token one-hot, gap, revenue). */
export function vocabSizeOf(model: tf.LayersModel): number {
  return (model.inputs[0].shape[2] as number) - 2;
}

/**
 * Whether step t of sequence i is one the model reads: the Masking layer skips all-zero steps, i.e. padding (token
 * 0) and an unknown token (beyond the vocabulary: a zero one-hot) whose numeric inputs are both 0.
 */
function isRealStep(s: Sequences, i: number, t: number, vocabSize: number): boolean {
  const j = i * s.length + t;
  const tok = s.tokens[j];
  if (tok === 0) return false;
  return (tok >= 1 && tok <= vocabSize) || s.numeric[j * 2] !== 0 || s.numeric[j * 2 + 1] !== 0;
}

/** The layers model's input: [B, T, V + 2], left-padded as stored. */
export function layersBatch(s: Sequences, idx: ArrayLike<number>, vocabSize: number): tf.Tensor {
  const T = s.length;
  const F = vocabSize + 2;
  const B = idx.length;
  const x = new Float32Array(B * T * F);
  for (let k = 0; k < B; k++)
    for (let t = 0; t < T; t++) {
      const j = idx[k] * T + t;
      const tok = s.tokens[j];
      if (tok === 0) continue; // padding stays all zeros (masked)
      const o = (k * T + t) * F;
      if (tok <= vocabSize) x[o + tok - 1] = 1;
      x[o + vocabSize] = s.numeric[j * 2];
      x[o + vocabSize + 1] = s.numeric[j * 2 + 1];
    }
  return tf.tensor3d(x, [B, T, F]);
}

/**
 * The fused kernels' input, time-major [steps, B, F]: each sequence's real steps (see isRealStep) moved to the
 * front in order (so it starts at step 0, right-padded), with its count of real steps in `lengths`. The kernels
 * then run each sequence over exactly the steps tfjs-layers' masked LSTM uses (it carries the state over a masked
 * step: left padding, or a step a remap or an occlusion set to padding), and h at step length - 1 is what the
 * layers model outputs (zeros for a sequence with no real step). steps = the batch's longest real length: the steps
 * after a sequence's end never reach its output (the LSTM is causal), so they need not be run.
 *
 * A step's F inputs are its token's embedding row (`embedding`: V × D, so F = D + 2) or, for a model saved before
 * the embedding layer, the token one-hot (F = V + 2); then the two numeric inputs. `tokens` keeps each step's token
 * (0 for none or unknown) for the embedding's gradient.
 */
export interface FusedBatch {
  x: Float32Array;
  tokens: Int32Array;
  lengths: Int32Array;
  steps: number;
  rows: number;
  inputs: number;
}

export function fusedBatch(
  s: Sequences,
  idx: ArrayLike<number>,
  vocabSize: number,
  embedding: { table: ArrayLike<number>; dim: number } | null,
): FusedBatch {
  const T = s.length;
  const D = embedding ? embedding.dim : vocabSize;
  const F = D + 2;
  const B = idx.length;
  const x = new Float32Array(T * B * F);
  const tokens = new Int32Array(T * B);
  const lengths = new Int32Array(B);
  let steps = 1;
  for (let k = 0; k < B; k++) {
    const i = idx[k];
    let len = 0;
    for (let t = 0; t < T; t++) {
      if (!isRealStep(s, i, t, vocabSize)) continue;
      const j = i * T + t;
      const tok = s.tokens[j];
      const at = len * B + k;
      const o = at * F;
      if (tok <= vocabSize) {
        tokens[at] = tok;
        if (!embedding) x[o + tok - 1] = 1;
        else for (let d = 0; d < D; d++) x[o + d] = embedding.table[(tok - 1) * D + d];
      }
      x[o + D] = s.numeric[j * 2];
      x[o + D + 1] = s.numeric[j * 2 + 1];
      len++;
    }
    lengths[k] = len;
    steps = Math.max(steps, len);
  }
  return { x: x.subarray(0, steps * B * F), tokens, lengths, steps, rows: B, inputs: F };
}
