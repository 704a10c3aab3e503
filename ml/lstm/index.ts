/**
 * The sequence model: each user's last N events (event-type tokens, log time gaps, log revenue; left-padded,
 * token 0 = padding) → embedding + numeric inputs → one or two LSTM layers (padding masked) → sigmoid.
 * Plain functions in the tfjs-examples style: createLstmModel, trainLstm, loadLstm. Tensors are made per batch
 * (never one tensor of all sequences) and disposed; a checkpoint (weights, epoch, best validation AUC, history)
 * is written after every epoch and a repeated call resumes from it.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { LstmParams } from '../../pipelines/schema/model';
import { writeFileAtomic, writeJsonAtomic } from '../../infra/atomic';
import { quoteLiteral } from '../../warehouse/db';
import { rocAuc } from '../metrics';
import { deriveSeed, mulberry32, shuffle } from '../random';
import { fusedLstmKernels, selectBackend, type FusedLstmKernels } from '../tf-backend';

export interface Sequences {
  ids: string[];
  labels: Uint8Array;
  /** n × T token ids. */
  tokens: Int32Array;
  /** n × T × 2 numeric inputs (log1p gap hours, log1p revenue). */
  numeric: Float32Array;
  length: number;
}

/** The token vocabulary written beside sequences.parquet (event name → token id). */
export function readVocab(file: string): Record<string, number> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>;
}

/** Sequences with the vocabulary their tokens use: what a scorer needs to re-express them for its model. */
export async function readSequencesWithVocab(conn: DuckDBConnection, sequencesPath: string, vocabPath: string) {
  return { data: await readSequences(conn, sequencesPath), vocab: readVocab(vocabPath) };
}

/** Reads sequences.parquet (ragged lists, oldest event first) into left-padded arrays of `padded_to` steps. */
export async function readSequences(conn: DuckDBConnection, file: string): Promise<Sequences> {
  const r = await conn.runAndReadAll(
    `SELECT user_id, coalesce(label, 0), tokens, gaps, revenue, padded_to FROM read_parquet(${quoteLiteral(file)}) ORDER BY user_id`,
  );
  const rows = r.getRows();
  const T = rows.length ? Number(rows[0][5]) : 0;
  const n = rows.length;
  const tokens = new Int32Array(n * T);
  const numeric = new Float32Array(n * T * 2);
  const labels = new Uint8Array(n);
  const ids: string[] = new Array(n);
  rows.forEach((row, i) => {
    ids[i] = String(row[0]);
    labels[i] = Number(row[1]);
    const tk = (row[2] as { items: number[] }).items;
    const g = (row[3] as { items: number[] }).items;
    const rv = (row[4] as { items: number[] }).items;
    const pad = T - tk.length; // left padding: the last event sits at step T - 1
    for (let t = 0; t < tk.length; t++) {
      tokens[i * T + pad + t] = Number(tk[t]);
      numeric[(i * T + pad + t) * 2] = Number(g[t]);
      numeric[(i * T + pad + t) * 2 + 1] = Number(rv[t]);
    }
  });
  return { ids, labels, tokens, numeric, length: T };
}

/**
 * Inputs per step: the event token one-hot (V columns; padding = all zeros) and the two numeric inputs. The
 * first LSTM layer's input kernel on the one-hot columns is the token embedding (a learned vector per event type),
 * folded into the LSTM: tfjs's WASM backend has no kernel for the Embedding layer's gradient
 * (UnsortedSegmentSum), and a one-hot input keeps every backend able to train. Padding steps are all zeros and
 * are skipped by the Masking layer. The gates use the logistic sigmoid (as PyTorch and Keras do; tfjs's default
 * is hardSigmoid): TensorFlow's fused LSTM kernels compute that function, so on tfjs-node the model trains and
 * scores through them (see fusedModel) and a model trained on any backend scores the same on all of them.
 */
export function createLstmModel(p: LstmParams, vocabSize: number, T: number, seed: number): tf.LayersModel {
  const model = tf.sequential();
  // Fixed layer names: a resumed model (another process, or later in this one) names its weights the same.
  model.add(tf.layers.masking({ maskValue: 0, inputShape: [T, vocabSize + 2], name: 'padding_mask' }));
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
function batchTensor(s: Sequences, idx: ArrayLike<number>, vocabSize: number): tf.Tensor {
  const T = s.length;
  const F = vocabSize + 2;
  const x = new Float32Array(idx.length * T * F);
  for (let k = 0; k < idx.length; k++)
    for (let t = 0; t < T; t++) writeStep(s, idx[k], t, vocabSize, x, (k * T + t) * F);
  return tf.tensor3d(x, [idx.length, T, F]);
}

/**
 * The fused kernels' input, time-major [T', B, F]: each sequence's unmasked steps moved to the front in order (so
 * it starts at step 0, right-padded), and `last` [T', B, 1] = 1 at its last real step. The kernels then run each
 * sequence over exactly the steps tfjs-layers' masked LSTM uses (it carries the state over a masked step: left
 * padding, or a step a remap or an occlusion set to padding), and h at `last` is what the layers model outputs
 * (zeros for a sequence with no real step). T' = the batch's longest real length: the steps after a sequence's
 * end never reach its output (the LSTM is causal), so they need not be run.
 */
function fusedBatch(s: Sequences, idx: ArrayLike<number>, vocabSize: number): { x: tf.Tensor; last: tf.Tensor } {
  const T = s.length;
  const F = vocabSize + 2;
  const B = idx.length;
  const x = new Float32Array(T * B * F);
  const lengths = new Int32Array(B);
  let longest = 1;
  for (let k = 0; k < B; k++) {
    let len = 0;
    for (let t = 0; t < T; t++) if (writeStep(s, idx[k], t, vocabSize, x, (len * B + k) * F)) len++;
    lengths[k] = len;
    longest = Math.max(longest, len);
  }
  const last = new Float32Array(longest * B);
  lengths.forEach((len, k) => {
    if (len > 0) last[(len - 1) * B + k] = 1;
  });
  return { x: tf.tensor3d(x.subarray(0, longest * B * F), [longest, B, F]), last: tf.tensor3d(last, [longest, B, 1]) };
}

/** The model's weights as the fused kernels use them, on tfjs-node, for a model whose function they compute. */
interface FusedModel {
  /** x [T, B, F] → h [T, B, U], with its gradient (the fused backward kernel). */
  lstm: (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;
  layers: { kernel: tf.Variable; recurrentKernel: tf.Variable; bias: tf.Variable }[];
  dense: { kernel: tf.Variable; bias: tf.Variable };
}

/** A layer weight's tf.Variable (what tfjs-layers' LayerVariable.read() returns, typed as a plain Tensor). */
const variable = (w: { read(): tf.Tensor }) => w.read() as tf.Variable;

const fusedModels = new WeakMap<tf.LayersModel, FusedModel | null>();

function fusedLstm(k: FusedLstmKernels): FusedModel['lstm'] {
  const f = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const outs = k.forward(x, w, b);
    save([x, w, b, ...outs]); // only while a gradient tape records; disposed by the engine after backprop
    return {
      value: outs[6],
      gradFunc: (dh: tf.Tensor, saved: tf.Tensor[]) => k.backward(saved[0], saved[1], saved[2], saved.slice(3), dh),
    };
  };
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as FusedModel['lstm'];
}

/**
 * The model as TensorFlow's fused LSTM kernels run it, or null: a backend other than tfjs-node, or a model whose
 * function they do not compute (e.g. one trained before the gates became sigmoid, with tfjs's hardSigmoid), which
 * then runs on tfjs-layers' ops as on every other backend.
 */
function fusedModel(model: tf.LayersModel): FusedModel | null {
  const kernels = fusedLstmKernels();
  if (!kernels) return null;
  if (fusedModels.has(model)) return fusedModels.get(model)!;
  const layers = model.layers;
  const config = (l: tf.layers.Layer) => l.getConfig() as Record<string, unknown>;
  const vars = (l: tf.layers.Layer, names: string[]) => {
    const w = l.trainableWeights;
    // Names are made unique per process: lstm_0/kernel, then lstm_0/kernel_1 for the next model built.
    const named = w.every((v, j) => new RegExp(`/${names[j]}(_\\d+)?$`).test(v.name));
    return w.length === names.length && named ? w.map(variable) : null;
  };
  let fused: FusedModel | null = null;
  const first = layers[0];
  const head = layers[layers.length - 1];
  const lstms = layers.slice(1, -1);
  const ok =
    layers.length >= 3 &&
    first.getClassName() === 'Masking' &&
    config(first).maskValue === 0 &&
    head.getClassName() === 'Dense' &&
    config(head).activation === 'sigmoid' &&
    config(head).useBias === true &&
    lstms.every((l, j) => {
      const c = config(l);
      return (
        l.getClassName() === 'LSTM' &&
        c.activation === 'tanh' &&
        c.recurrentActivation === 'sigmoid' &&
        c.useBias === true &&
        !c.dropout &&
        !c.recurrentDropout &&
        !c.goBackwards &&
        !c.stateful &&
        !c.returnState &&
        c.returnSequences === j < lstms.length - 1
      );
    });
  if (ok) {
    const lw = lstms.map((l) => vars(l, ['kernel', 'recurrent_kernel', 'bias']));
    const dw = vars(head, ['kernel', 'bias']);
    if (dw && lw.every((w) => w))
      fused = {
        lstm: fusedLstm(kernels),
        layers: lw.map((w) => ({ kernel: w![0], recurrentKernel: w![1], bias: w![2] })),
        dense: { kernel: dw[0], bias: dw[1] },
      };
  }
  fusedModels.set(model, fused);
  return fused;
}

/** Whether this model trains and predicts through TensorFlow's fused LSTM kernels here (tfjs-node only). */
export function usesFusedKernels(model: tf.LayersModel): boolean {
  return fusedModel(model) !== null;
}

/** Conversion probabilities [B, 1] through the fused kernels: the layers model's function (see fusedBatch). */
function fusedPredict(f: FusedModel, batch: { x: tf.Tensor; last: tf.Tensor }): tf.Tensor {
  let h = batch.x;
  for (const l of f.layers) h = f.lstm(h, tf.concat([l.kernel, l.recurrentKernel], 0), l.bias);
  const last = tf.sum(tf.mul(h, batch.last), 0); // [B, U]: h at each sequence's last real step
  return tf.sigmoid(tf.add(tf.matMul(last, f.dense.kernel), f.dense.bias));
}

/**
 * One batch's training loss as fit() computes it with class weights: the batch mean of binary cross-entropy ×
 * the weight of the row's class. Through the fused kernels when `fused` is given, else tfjs-layers' ops.
 */
function batchLoss(
  model: tf.LayersModel,
  fused: FusedModel | null,
  s: Sequences,
  idx: ArrayLike<number>,
  classWeight: Record<number, number>,
): () => tf.Scalar {
  const vocabSize = (model.inputs[0].shape[2] as number) - 2;
  return () => {
    const y = tf.tensor2d(
      Float32Array.from(idx, (i) => s.labels[i]),
      [idx.length, 1],
    );
    const w = tf.tensor1d(Float32Array.from(idx, (i) => classWeight[s.labels[i]]));
    const p = fused
      ? fusedPredict(fused, fusedBatch(s, idx, vocabSize))
      : (model.apply(batchTensor(s, idx, vocabSize), { training: true }) as tf.Tensor);
    return tf.mean(tf.mul(tf.metrics.binaryCrossentropy(y, p), w)) as tf.Scalar;
  };
}

/**
 * Loss and gradients (one per trainable weight, in the model's order) of one class-weighted training batch,
 * through the fused kernels where the model runs on them (path 'auto') or tfjs-layers' ops ('layers'): lets tests
 * check that both paths train the same function.
 */
export function batchGradients(
  model: tf.LayersModel,
  s: Sequences,
  idx: ArrayLike<number>,
  classWeight: Record<number, number>,
  path: 'auto' | 'layers' = 'auto',
): { loss: number; grads: Float32Array[] } {
  const vars = model.trainableWeights.map(variable);
  return tf.tidy(() => {
    const fused = path === 'auto' ? fusedModel(model) : null;
    const { value, grads } = tf.variableGrads(batchLoss(model, fused, s, idx, classWeight), vars);
    return { loss: value.dataSync()[0], grads: vars.map((v) => grads[v.name].dataSync() as Float32Array) };
  });
}

/**
 * One training step through the fused kernels. fit() runs the model's own layers (tfjs-layers' per-step ops),
 * so this is its train step written out around the fused forward: the same loss (batchLoss), gradients of the
 * same variables in the same order, applied by the model's own Adam (whose state the checkpoint saves).
 */
function fusedTrainStep(
  model: tf.LayersModel,
  fused: FusedModel,
  s: Sequences,
  idx: ArrayLike<number>,
  classWeight: Record<number, number>,
): number {
  const vars = model.trainableWeights.map(variable);
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(batchLoss(model, fused, s, idx, classWeight), vars);
    model.optimizer.applyGradients(grads);
    return value.dataSync()[0];
  });
}

/**
 * One epoch of training steps over `order`, `batchSize` rows at a time, with class weights: through the fused
 * kernels on tfjs-node, else fit() on tfjs-layers. Returns the mean batch loss and the rows trained on. No
 * validation and no checkpoint (trainLstm adds them), so the bench can time exactly the loop PyTorch's runs.
 * One thread: tfjs-node is not safe to call from two threads at once (see docs/tfjs-node.md).
 */
export async function trainEpoch(
  model: tf.LayersModel,
  s: Sequences,
  order: Uint32Array,
  batchSize: number,
  classWeight: Record<number, number>,
  signal?: AbortSignal,
): Promise<{ loss: number; rows: number }> {
  const fused = fusedModel(model);
  const vocabSize = (model.inputs[0].shape[2] as number) - 2;
  let lossSum = 0;
  let batches = 0;
  let rows = 0;
  for (let b = 0; b < order.length; b += batchSize) {
    const part = order.subarray(b, Math.min(order.length, b + batchSize));
    if (fused) lossSum += fusedTrainStep(model, fused, s, part, classWeight);
    else {
      const x = batchTensor(s, part, vocabSize);
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
    if (signal?.aborted) throw new Error('training cancelled');
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
  const vocabSize = (model.inputs[0].shape[2] as number) - 2;
  const fused = path === 'auto' ? fusedModel(model) : null;
  const rows = idx ?? Uint32Array.from({ length: s.ids.length }, (_, i) => i);
  const out = new Float64Array(rows.length);
  for (let b = 0; b < rows.length; b += batch) {
    const part = Array.from({ length: Math.min(batch, rows.length - b) }, (_, k) => rows[b + k]);
    const p = tf.tidy(() => {
      const y = fused
        ? fusedPredict(fused, fusedBatch(s, part, vocabSize))
        : (model.predict(batchTensor(s, part, vocabSize)) as tf.Tensor);
      return y.dataSync();
    });
    out.set(p, b);
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

/** Saves a model as model.json + weights.bin (works on every backend; tfjs-node's file:// is not always there). */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      writeFileAtomic(join(dir, 'weights.bin'), new Uint8Array(artifacts.weightData as ArrayBuffer));
      writeJsonAtomic(join(dir, 'model.json'), {
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      });
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
}

export async function loadModel(dir: string): Promise<tf.LayersModel> {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const bin = readFileSync(join(dir, 'weights.bin'));
  const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length);
  return tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData }),
  );
}

/**
 * Adam's running powers beta1^t and beta2^t. tfjs keeps them outside getWeights(), and its setWeights() recomputes
 * them as pow(beta, t + 1), which differs in the last float32 digits from the repeated products an uninterrupted
 * run has: saved and restored as they are, a resumed run continues bit for bit.
 */
type AdamPowers = { accBeta1?: tf.Variable; accBeta2?: tf.Variable };
const ADAM_POWERS = ['accBeta1', 'accBeta2'] as const;

/** Adam's step count, moment estimates and running beta powers, so a resumed run continues the same optimisation. */
async function saveOptimizer(model: tf.LayersModel, file: string): Promise<void> {
  const weights = await model.optimizer.getWeights();
  const out = await Promise.all(
    weights.map(async (w) => ({ name: w.name, shape: w.tensor.shape, data: Array.from(await w.tensor.data()) })),
  );
  tf.dispose(weights.filter((w) => w.name === 'iter').map((w) => w.tensor)); // a fresh scalar each call
  const powers = model.optimizer as unknown as AdamPowers;
  for (const k of ADAM_POWERS) {
    const v = powers[k];
    if (v) out.push({ name: `__${k}`, shape: [], data: Array.from(await v.data()) });
  }
  writeJsonAtomic(file, out);
}

async function restoreOptimizer(model: tf.LayersModel, file: string): Promise<void> {
  if (!existsSync(file)) return;
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { name: string; shape: number[]; data: number[] }[];
  const tensors = saved
    .filter((w) => !w.name.startsWith('__'))
    .map((w) => ({ name: w.name, tensor: tf.tensor(w.data, w.shape) }));
  await model.optimizer.setWeights(tensors);
  tf.dispose(tensors.map((t) => t.tensor)); // setWeights keeps its own copies as variables
  const powers = model.optimizer as unknown as AdamPowers;
  for (const k of ADAM_POWERS) {
    const w = saved.find((x) => x.name === `__${k}`);
    const v = powers[k];
    if (w && v) tf.tidy(() => v.assign(tf.scalar(w.data[0])));
  }
}

export interface LstmTrainResult {
  backend: string;
  epochs: number;
  bestEpoch: number;
  bestValAuc: number;
  history: { epoch: number; loss: number; valAuc: number }[];
  /** Epochs already done by an interrupted earlier call (0 when it started fresh). */
  resumedFromEpoch: number;
  seqPerSecond: number;
  modelDir: string;
}

/** Class weights for rare conversions ("balanced"), from the labels of the training rows. */
export function balancedClassWeight(labels: Uint8Array, rows: ArrayLike<number>): Record<number, number> {
  let pos = 0;
  for (let k = 0; k < rows.length; k++) pos += labels[rows[k]];
  return {
    0: rows.length / (2 * Math.max(1, rows.length - pos)),
    1: rows.length / (2 * Math.max(1, pos)),
  };
}

export async function trainLstm(opts: {
  sequences: Sequences;
  vocabSize: number;
  outDir: string;
  params: LstmParams;
  seed: number;
  /** Rows to train on (the rest of `sequences` is ignored); a seeded 15 % of them validates for early stopping. */
  trainRows?: ArrayLike<number>;
  onEpoch?: (e: { epoch: number; epochs: number; loss: number; valAuc: number }) => void;
  signal?: AbortSignal;
}): Promise<LstmTrainResult> {
  const { backend } = await selectBackend();
  const s = opts.sequences;
  const p = opts.params;
  const rng = mulberry32(opts.seed);
  const rows = shuffle(
    Uint32Array.from(opts.trainRows ?? Uint32Array.from({ length: s.ids.length }, (_, i) => i)),
    rng,
  );
  const nVal = Math.max(1, Math.floor(rows.length * 0.15));
  const val = rows.subarray(0, nVal);
  const train = Uint32Array.from(rows.subarray(nVal));
  const classWeight = balancedClassWeight(s.labels, train);

  const ckpt = join(opts.outDir, 'checkpoint');
  const state = existsSync(join(ckpt, 'state.json'))
    ? (JSON.parse(readFileSync(join(ckpt, 'state.json'), 'utf8')) as {
        epoch: number;
        bestEpoch: number;
        bestValAuc: number;
        history: LstmTrainResult['history'];
      })
    : null;
  const model = createLstmModel(p, opts.vocabSize, s.length, opts.seed);
  if (state) {
    const saved = await loadModel(ckpt);
    model.setWeights(saved.getWeights());
    saved.dispose();
    await restoreOptimizer(model, join(ckpt, 'optimizer.json'));
  }
  // On tfjs-node the LSTM trains through TensorFlow's fused kernels (one native op per layer forward, one
  // backward: ~5x tfjs-layers' per-step ops); elsewhere through fit(). See trainEpoch.
  const history = state?.history ?? [];
  let bestValAuc = state?.bestValAuc ?? -Infinity;
  let bestEpoch = state?.bestEpoch ?? 0;
  const startEpoch = state?.epoch ?? 0;
  let seen = 0;
  const started = performance.now();
  for (let epoch = startEpoch + 1; epoch <= p.epochs; epoch++) {
    if (opts.signal?.aborted) throw new Error('training cancelled');
    // Each epoch's order comes from (seed, epoch) alone, applied to the same base order (a copy: shuffling `train`
    // in place would make epoch e's order depend on every earlier epoch's, which a resumed run has not replayed).
    const order = shuffle(Uint32Array.from(train), mulberry32(deriveSeed(opts.seed, epoch)));
    const { loss, rows: done } = await trainEpoch(model, s, order, p.batchSize, classWeight, opts.signal);
    seen += done;
    const valAuc = rocAuc(
      Array.from(val, (i) => s.labels[i]),
      predictSequences(model, s, val),
    );
    history.push({ epoch, loss, valAuc });
    if (valAuc > bestValAuc) {
      bestValAuc = valAuc;
      bestEpoch = epoch;
      await saveModel(model, join(opts.outDir, 'best'));
    }
    await saveModel(model, ckpt);
    await saveOptimizer(model, join(ckpt, 'optimizer.json'));
    writeJsonAtomic(join(ckpt, 'state.json'), { epoch, bestEpoch, bestValAuc, history });
    opts.onEpoch?.({ epoch, epochs: p.epochs, loss, valAuc });
    if (epoch - bestEpoch >= p.patience && p.patience > 0) break; // early stopping on validation AUC
  }
  model.optimizer?.dispose(); // Adam's moment estimates are not owned by the model
  model.dispose();
  const seconds = (performance.now() - started) / 1000;
  const modelDir = join(opts.outDir, 'best');
  writeJsonAtomic(join(modelDir, 'metadata.json'), {
    vocabSize: opts.vocabSize,
    sequenceLength: s.length,
    numericInputs: ['log1p_gap_hours', 'log1p_revenue'],
    backend,
    params: p,
    seed: opts.seed,
    bestEpoch,
    bestValAuc,
  });
  rmSync(ckpt, { recursive: true, force: true });
  return {
    backend,
    epochs: history.length ? history[history.length - 1].epoch : 0,
    bestEpoch,
    bestValAuc,
    history,
    resumedFromEpoch: startEpoch,
    seqPerSecond: seconds > 0 ? seen / seconds : 0,
    modelDir,
  };
}

export async function loadLstm(dir: string): Promise<{ model: tf.LayersModel; metadata: Record<string, unknown> }> {
  await selectBackend();
  return { model: await loadModel(dir), metadata: JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8')) };
}

/** Concatenates two sequence sets of the same length (the two cutoffs of a time fold). */
export function concatSequences(a: Sequences, b: Sequences): Sequences {
  if (a.length !== b.length) throw new Error(`sequence lengths differ: ${a.length} vs ${b.length}`);
  const cat = <T extends Int32Array | Float32Array | Uint8Array>(x: T, y: T, make: (n: number) => T): T => {
    const out = make(x.length + y.length);
    out.set(x);
    out.set(y, x.length);
    return out;
  };
  return {
    ids: [...a.ids, ...b.ids],
    labels: cat(a.labels, b.labels, (n) => new Uint8Array(n)),
    tokens: cat(a.tokens, b.tokens, (n) => new Int32Array(n)),
    numeric: cat(a.numeric, b.numeric, (n) => new Float32Array(n)),
    length: a.length,
  };
}

/**
 * Token ids come from each cutoff's vocabulary (event names sorted): re-express `s` in the vocabulary a model was
 * trained with, so a name keeps its meaning; an event type the model never saw becomes padding (ignored).
 */
export function remapTokens(s: Sequences, from: Record<string, number>, to: Record<string, number>): Sequences {
  const map = new Int32Array(Math.max(0, ...Object.values(from)) + 1);
  for (const [name, id] of Object.entries(from)) map[id] = to[name] ?? 0;
  const tokens = Int32Array.from(s.tokens, (t) => (t < map.length ? map[t] : 0));
  return { ...s, tokens };
}

/**
 * The trained LSTM as one JSON document (topology, weight specs, weights in base64, metadata with the vocabulary),
 * so a published model version stays a single checksummed model.json whatever the engine.
 */
export function lstmToSerialized(modelDir: string, vocab: Record<string, number>) {
  const json = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8'));
  const metadata = JSON.parse(readFileSync(join(modelDir, 'metadata.json'), 'utf8')) as Record<string, unknown>;
  return {
    engine: 'lstm',
    formatVersion: 1,
    featureNames: [] as string[],
    payload: {
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0].weights,
      weights: readFileSync(join(modelDir, 'weights.bin')).toString('base64'),
      metadata: { ...metadata, vocab },
    },
  };
}

export interface SerializedLstmPayload {
  modelTopology: object;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weights: string;
  metadata: { vocab: Record<string, number>; sequenceLength: number; backend: string };
}

export async function lstmFromSerialized(payload: SerializedLstmPayload): Promise<tf.LayersModel> {
  await selectBackend();
  const bin = Buffer.from(payload.weights, 'base64');
  const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length);
  return tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: payload.modelTopology, weightSpecs: payload.weightSpecs, weightData }),
  );
}
