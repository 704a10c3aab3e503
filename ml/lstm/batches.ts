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

/**
 * Writes step t of sequence i (token one-hot, then the two numeric inputs) at x[o..o + vocabSize + 2), which must
 * be zeros; false when the row stays all zeros, i.e. the Masking layer skips the step (padding, token 0, or an
 * unknown token with both numeric inputs 0).
 */
function writeStep(s: Sequences, i: number, t: number, vocabSize: number, x: Float32Array, o: number): boolean {
  const T = s.length;
  const tok = s.tokens[i * T + t];
  if (tok === 0) return false; // padding stays all zeros (masked)
  const gap = (x[o + vocabSize] = s.numeric[(i * T + t) * 2]);
  const revenue = (x[o + vocabSize + 1] = s.numeric[(i * T + t) * 2 + 1]);
  if (tok >= 1 && tok <= vocabSize) {
    x[o + tok - 1] = 1;
    return true;
  }
  return gap !== 0 || revenue !== 0;
}

/** The layers model's input: [B, T, F], left-padded as stored. */
export function layersBatch(s: Sequences, idx: ArrayLike<number>, vocabSize: number): tf.Tensor {
  const T = s.length;
  const F = vocabSize + 2;
  const x = new Float32Array(idx.length * T * F);
  for (let k = 0; k < idx.length; k++)
    for (let t = 0; t < T; t++) writeStep(s, idx[k], t, vocabSize, x, (k * T + t) * F);
  return tf.tensor3d(x, [idx.length, T, F]);
}

/**
 * The fused kernels' input, time-major [steps, B, F]: each sequence's unmasked steps moved to the front in order
 * (so it starts at step 0, right-padded), with its count of real steps in `lengths`. The kernels then run each
 * sequence over exactly the steps tfjs-layers' masked LSTM uses (it carries the state over a masked step: left
 * padding, or a step a remap or an occlusion set to padding), and h at step length - 1 is what the layers model
 * outputs (zeros for a sequence with no real step). steps = the batch's longest real length: the steps after a
 * sequence's end never reach its output (the LSTM is causal), so they need not be run.
 */
export interface FusedBatch {
  x: Float32Array;
  lengths: Int32Array;
  steps: number;
  rows: number;
  inputs: number;
}

export function fusedBatch(s: Sequences, idx: ArrayLike<number>, vocabSize: number): FusedBatch {
  const T = s.length;
  const F = vocabSize + 2;
  const B = idx.length;
  const x = new Float32Array(T * B * F);
  const lengths = new Int32Array(B);
  let steps = 1;
  for (let k = 0; k < B; k++) {
    let len = 0;
    for (let t = 0; t < T; t++) if (writeStep(s, idx[k], t, vocabSize, x, (len * B + k) * F)) len++;
    lengths[k] = len;
    steps = Math.max(steps, len);
  }
  return { x: x.subarray(0, steps * B * F), lengths, steps, rows: B, inputs: F };
}
