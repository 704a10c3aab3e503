/**
 * The LSTM network itself: its layers, one training epoch (fused TensorFlow kernels on tfjs-node, tfjs-layers
 * elsewhere), prediction in batches and per-event-type explanations. Training loop and checkpoints: ./train.ts.
 */
import * as tf from '@tensorflow/tfjs';
import type { LstmParams } from '../../pipelines/schema/model';
import { layersBatch, vocabSizeOf, type Sequences } from './batches';
import { TokenEmbedding } from './embedding';
import { FusedTrainer, fusedPredict, variable } from './fused';
import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Inputs per step: the event token one-hot (V columns) and the two numeric inputs; padding steps are all zeros and
 * the Masking layer skips them. The token embedding (./embedding.ts) turns the one-hot into the token's learned row
 * of embeddingDim numbers. The gates use the logistic sigmoid (as PyTorch and Keras do; tfjs's default is
 * hardSigmoid): TensorFlow's fused LSTM kernels compute that function, so on tfjs-node the model trains and scores
 * through them (see ./fused.ts) and a model trained on any backend scores the same on all of them.
 */
export function createLstmModel(p: LstmParams, vocabSize: number, T: number, seed: number): tf.LayersModel {
  const model = tf.sequential();
  // Fixed layer names: a resumed model (another process, or later in this one) names its weights the same.
  model.add(tf.layers.masking({ maskValue: 0, inputShape: [T, vocabSize + 2], name: 'padding_mask' }));
  model.add(new TokenEmbedding({ vocabSize, dim: p.embeddingDim, seed: seed + 51, name: 'token_embedding' }));
  for (let l = 0; l < p.layers; l++) {
    model.add(
      tf.layers.lstm({
        units: p.units,
        name: `lstm_${l}`,
        returnSequences: l < p.layers - 1,
        recurrentActivation: 'sigmoid',
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 + l }),
        recurrentInitializer: tf.initializers.glorotUniform({ seed: seed + 11 + l }),
      }),
    );
  }
  model.add(
    tf.layers.dense({
      units: 1,
      activation: 'sigmoid',
      name: 'conversion',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 99 }),
    }),
  );
  model.compile({ optimizer: tf.train.adam(p.learningRate), loss: 'binaryCrossentropy' });
  return model;
}

/**
 * One batch's training loss as fit() computes it with class weights, on tfjs-layers' ops: the batch mean of binary
 * cross-entropy × the weight of the row's class.
 */
function layersLoss(
  model: tf.LayersModel,
  s: Sequences,
  idx: ArrayLike<number>,
  classWeight: Record<number, number>,
): () => tf.Scalar {
  const vocabSize = vocabSizeOf(model);
  return () => {
    const y = tf.tensor2d(
      Float32Array.from(idx, (i) => s.labels[i]),
      [idx.length, 1],
    );
    const w = tf.tensor1d(Float32Array.from(idx, (i) => classWeight[s.labels[i]]));
    const p = model.apply(layersBatch(s, idx, vocabSize), { training: true }) as tf.Tensor;
    return tf.mean(tf.mul(tf.metrics.binaryCrossentropy(y, p), w)) as tf.Scalar;
  };
}

/**
 * Loss and gradients (one per trainable weight, in the model's order) of one class-weighted training batch,
 * through the fused kernels and the hand-written head where the model runs on them (path 'auto'), or tfjs-layers'
 * ops and autodiff ('layers'): lets tests check that both paths train the same function.
 */
export function batchGradients(
  model: tf.LayersModel,
  s: Sequences,
  idx: ArrayLike<number>,
  classWeight: Record<number, number>,
  path: 'auto' | 'layers' = 'auto',
): { loss: number; grads: Float32Array[] } {
  const fused = path === 'auto' ? FusedTrainer.for(model) : null;
  if (fused) {
    try {
      return fused.gradients(s, idx, classWeight);
    } finally {
      fused.dispose();
    }
  }
  const vars = model.trainableWeights.map(variable);
  // tidy returns tensors, read after it: tidy would walk returned typed arrays element by element.
  const { value, grads } = tf.tidy(() => tf.variableGrads(layersLoss(model, s, idx, classWeight), vars));
  const out = { loss: value.dataSync()[0], grads: vars.map((v) => grads[v.name].dataSync() as Float32Array) };
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

/**
 * One epoch of training steps over `order`, `batchSize` rows at a time, with class weights: through the fused
 * kernels on tfjs-node (ml/lstm/fused.ts), else fit() on tfjs-layers. Returns the mean batch loss and the rows
 * trained on. No validation and no checkpoint (trainLstm adds them), so the bench can time exactly the loop
 * PyTorch's runs. One thread: tfjs-node is not safe to call from two threads at once (see docs/tfjs-node.md).
 */
export async function trainEpoch(
  model: tf.LayersModel,
  s: Sequences,
  order: Uint32Array,
  batchSize: number,
  classWeight: Record<number, number>,
  signal?: AbortSignal,
): Promise<{ loss: number; rows: number }> {
  const fused = FusedTrainer.for(model);
  const vocabSize = vocabSizeOf(model);
  let lossSum = 0;
  let batches = 0;
  let rows = 0;
  let yielded = performance.now();
  try {
    for (let b = 0; b < order.length; b += batchSize) {
      const part = order.subarray(b, Math.min(order.length, b + batchSize));
      if (fused) lossSum += fused.step(s, part, classWeight);
      else {
        const x = layersBatch(s, part, vocabSize);
        const y = tf.tensor2d(
          Float32Array.from(part, (i) => s.labels[i]),
          [part.length, 1],
        );
        const h = await model.fit(x, y, { batchSize: part.length, epochs: 1, verbose: 0, classWeight, shuffle: false });
        tf.dispose([x, y]);
        lossSum += Number(h.history.loss[0]);
      }
      batches++;
      rows += part.length;
      // The fused steps are synchronous: let the event loop run now and then, or the activity's heartbeats and
      // its cancellation wait for the end of the epoch (minutes on a large data set; the heartbeat timeout is 30 s).
      if (performance.now() - yielded > 200) {
        await nextTurn();
        yielded = performance.now();
      }
      if (signal?.aborted) throw new Error('training cancelled');
    }
  } finally {
    fused?.finish();
  }
  return { loss: lossSum / Math.max(1, batches), rows };
}

/**
 * Conversion probabilities of `idx` (default: every sequence), `batch` at a time; through the fused kernels where
 * the model runs on them (tfjs-node), unless path is 'layers'.
 */
export function predictSequences(
  model: tf.LayersModel,
  s: Sequences,
  idx?: ArrayLike<number>,
  batch = 1024,
  path: 'auto' | 'layers' = 'auto',
): Float64Array {
  const vocabSize = vocabSizeOf(model);
  const rows = idx ?? Uint32Array.from({ length: s.ids.length }, (_, i) => i);
  const fused = path === 'auto' ? fusedPredict(model, s, rows, batch) : null;
  if (fused) return fused;
  const out = new Float64Array(rows.length);
  for (let b = 0; b < rows.length; b += batch) {
    const part = Array.from({ length: Math.min(batch, rows.length - b) }, (_, k) => rows[b + k]);
    const y = tf.tidy(() => model.predict(layersBatch(s, part, vocabSize)) as tf.Tensor);
    out.set(y.dataSync(), b);
    y.dispose();
  }
  return out;
}

/**
 * Why the LSTM scored each user as it did, by occlusion: the score drop when all of the user's events of one type
 * are masked out (as if they had not happened), and when their revenue inputs are zeroed. An LSTM has no path
 * contributions like a tree, and occlusion needs only forward passes (a few per user: one per event type present),
 * so it runs on every backend. Reasons are named `seq_<event>` and `seq_revenue`; only those that raised the score
 * are returned, largest first. `vocab` maps event names to the token ids these sequences use.
 */
export function explainSequences(
  model: tf.LayersModel,
  s: Sequences,
  vocab: Record<string, number>,
  idx: ArrayLike<number>,
  topK: number,
): { names: string[][]; values: Float64Array[]; scores: Float64Array } {
  const T = s.length;
  const rows = Array.from(idx);
  const full = predictSequences(model, s, rows);
  const n = rows.length;
  const occluded = (edit: (tokens: Int32Array, numeric: Float32Array) => boolean) => {
    // A compact copy of the rows the edit changes; rows it leaves alone contribute nothing.
    const changed: number[] = [];
    const tokens: Int32Array[] = [];
    const numeric: Float32Array[] = [];
    for (let k = 0; k < n; k++) {
      const i = rows[k];
      const tk = s.tokens.slice(i * T, (i + 1) * T);
      const nu = s.numeric.slice(i * T * 2, (i + 1) * T * 2);
      if (!edit(tk, nu)) continue;
      changed.push(k);
      tokens.push(tk);
      numeric.push(nu);
    }
    const drop = new Float64Array(n);
    if (changed.length === 0) return drop;
    const sub: Sequences = {
      ids: changed.map((k) => s.ids[rows[k]]),
      labels: new Uint8Array(changed.length),
      tokens: new Int32Array(changed.length * T),
      numeric: new Float32Array(changed.length * T * 2),
      length: T,
    };
    changed.forEach((_, c) => {
      sub.tokens.set(tokens[c], c * T);
      sub.numeric.set(numeric[c], c * T * 2);
    });
    const p = predictSequences(model, sub);
    changed.forEach((k, c) => (drop[k] = full[k] - p[c]));
    return drop;
  };
  const reasons: { name: string; drop: Float64Array }[] = [];
  for (const [event, token] of Object.entries(vocab).sort((a, b) => a[1] - b[1])) {
    const drop = occluded((tk) => {
      let hit = false;
      for (let t = 0; t < T; t++)
        if (tk[t] === token) {
          tk[t] = 0; // token 0 is padding: the step is masked
          hit = true;
        }
      return hit;
    });
    reasons.push({ name: `seq_${event}`, drop });
  }
  reasons.push({
    name: 'seq_revenue',
    drop: occluded((tk, nu) => {
      let hit = false;
      for (let t = 0; t < T; t++)
        if (nu[t * 2 + 1] !== 0) {
          nu[t * 2 + 1] = 0;
          hit = true;
        }
      return hit;
    }),
  });
  const names: string[][] = [];
  const values: Float64Array[] = [];
  for (let k = 0; k < n; k++) {
    const top = reasons
      .map((r, j) => [r.drop[k], j] as const)
      .filter(([v]) => v > 0)
      .sort((a, b) => b[0] - a[0] || a[1] - b[1])
      .slice(0, topK);
    names.push(top.map(([, j]) => reasons[j].name));
    values.push(Float64Array.from(top, ([v]) => v));
  }
  return { names, values, scores: full };
}
