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
import { writeFileAtomic, writeJsonAtomic, type Writer } from '../../infra/atomic';
import { quoteLiteral } from '../../warehouse/db';
import { rocAuc } from '../metrics';
import { deriveSeed, mulberry32, shuffle } from '../random';
import { selectBackend } from '../tf-backend';
import type { SavedOptimizerWeight } from './adam';
import { layersBatch, vocabSizeOf, type Sequences } from './batches';
import { TokenEmbedding } from './embedding';
import { FusedTrainer, fusedPredict, restoreFusedOptimizer, saveFusedOptimizer, variable } from './fused';
import { setImmediate as nextTurn } from 'node:timers/promises';

export type { Sequences } from './batches';
export { usesFusedKernels } from './fused';

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

/** Saves a model as model.json + weights.bin (works on every backend; tfjs-node's file:// is not always there). */
export async function saveModel(model: tf.LayersModel, dir: string, writer: Writer = {}): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      writeFileAtomic(join(dir, 'weights.bin'), new Uint8Array(artifacts.weightData as ArrayBuffer), writer);
      writeJsonAtomic(
        join(dir, 'model.json'),
        {
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
        },
        writer,
      );
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

/**
 * Adam's step count, moment estimates and running beta powers, so a resumed run continues the same optimisation:
 * the fused path's (ml/lstm/adam.ts) or tfjs's, in one layout either can restore.
 */
async function saveOptimizer(model: tf.LayersModel, file: string, writer: Writer): Promise<void> {
  const fused = saveFusedOptimizer(model);
  if (fused) return writeJsonAtomic(file, fused, writer);
  const weights = await model.optimizer.getWeights();
  const out: SavedOptimizerWeight[] = await Promise.all(
    weights.map(async (w) => ({ name: w.name, shape: w.tensor.shape, data: Array.from(await w.tensor.data()) })),
  );
  tf.dispose(weights.filter((w) => w.name === 'iter').map((w) => w.tensor)); // a fresh scalar each call
  const powers = model.optimizer as unknown as AdamPowers;
  for (const k of ADAM_POWERS) {
    const v = powers[k];
    if (v) out.push({ name: `__${k}`, shape: [], data: Array.from(await v.data()) });
  }
  writeJsonAtomic(file, out, writer);
}

async function restoreOptimizer(model: tf.LayersModel, file: string): Promise<void> {
  if (!existsSync(file)) return;
  const saved = JSON.parse(readFileSync(file, 'utf8')) as SavedOptimizerWeight[];
  if (restoreFusedOptimizer(model, saved)) return;
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
  /** The class weights training used; withoutClassWeighting(p, classWeight) gives calibrated probabilities. */
  classWeight: Record<number, number>;
  seqPerSecond: number;
  modelDir: string;
}

/**
 * The model's conversion probability without the class weighting it was trained with. Balanced class weights make
 * each converter count w1/w0 times a non-converter, so the network learns the odds of conversion × w1/w0: its
 * outputs rank users as well as calibrated ones would but overstate the probability (sample holdout: log loss
 * 0.53, 0.11 once corrected). Odds × w0/w1 are the calibrated odds (the prior correction for weighted or
 * case-control samples). Identity without weights (models saved before they were recorded).
 */
export function withoutClassWeighting(p: number, classWeight?: Record<number, number>): number {
  if (!classWeight || p <= 0 || p >= 1) return p;
  const odds = (p / (1 - p)) * (classWeight[0] / classWeight[1]);
  return odds / (1 + odds);
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
  /** Stops training between batches; no checkpoint or model file is written after it fires. */
  signal?: AbortSignal;
  /** Goes into temp names, so two attempts of one training never share a temp file. */
  writerTag?: string;
}): Promise<LstmTrainResult> {
  const writer: Writer = { signal: opts.signal, tag: opts.writerTag };
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
      await saveModel(model, join(opts.outDir, 'best'), writer);
    }
    await saveModel(model, ckpt, writer);
    await saveOptimizer(model, join(ckpt, 'optimizer.json'), writer);
    writeJsonAtomic(join(ckpt, 'state.json'), { epoch, bestEpoch, bestValAuc, history }, writer);
    opts.onEpoch?.({ epoch, epochs: p.epochs, loss, valAuc });
    if (epoch - bestEpoch >= p.patience && p.patience > 0) break; // early stopping on validation AUC
  }
  model.optimizer?.dispose(); // Adam's moment estimates are not owned by the model
  model.dispose();
  const seconds = (performance.now() - started) / 1000;
  const modelDir = join(opts.outDir, 'best');
  writeJsonAtomic(
    join(modelDir, 'metadata.json'),
    {
      vocabSize: opts.vocabSize,
      sequenceLength: s.length,
      numericInputs: ['log1p_gap_hours', 'log1p_revenue'],
      backend,
      params: p,
      seed: opts.seed,
      bestEpoch,
      bestValAuc,
      // Scores are reported without this weighting (withoutClassWeighting).
      classWeight,
    },
    writer,
  );
  rmSync(ckpt, { recursive: true, force: true });
  return {
    backend,
    epochs: history.length ? history[history.length - 1].epoch : 0,
    bestEpoch,
    bestValAuc,
    history,
    resumedFromEpoch: startEpoch,
    classWeight,
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
  metadata: {
    vocab: Record<string, number>;
    sequenceLength: number;
    backend: string;
    classWeight?: Record<number, number>;
  };
}

export async function lstmFromSerialized(payload: SerializedLstmPayload): Promise<tf.LayersModel> {
  await selectBackend();
  const bin = Buffer.from(payload.weights, 'base64');
  const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length);
  return tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: payload.modelTopology, weightSpecs: payload.weightSpecs, weightData }),
  );
}
