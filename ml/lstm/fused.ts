/**
 * The LSTM on tfjs-node, through TensorFlow's fused kernels (BlockLSTMV2 forward, BlockLSTMGradV2 backward: one
 * native op per layer each way, where tfjs-layers dispatches dozens of small ops per time step).
 *
 * Only the kernels run as tensor ops. The rest of a training step is written out by hand in JS, because at this
 * size each tfjs op costs more to dispatch (~15-30 µs) than its arithmetic: the token embedding (a row lookup
 * forward, a scatter-add of the input gradient backward), the dense sigmoid head and the class-weighted
 * cross-entropy with their gradients are a few multiply-adds per row (~50 ops through tfjs's autodiff), and Adam
 * over ~7k weights is a loop (~60 ops in tfjs's optimizer; see ./adam.ts). A step is then ~8 native calls instead
 * of ~150. The unit tests check loss and every gradient against tfjs-layers' autodiff of the same model (1e-5),
 * and predictions against its predict().
 */
import * as tf from '@tensorflow/tfjs';
import { fusedLstmKernels, ZeroTensors, type FusedLstmKernels } from '../tf-backend';
import { Adam, type SavedOptimizerWeight } from './adam';
import { fusedBatch, vocabSizeOf, type FusedBatch, type Sequences } from './batches';
import { TokenEmbedding } from './embedding';

/** The model's weights as the fused kernels use them, on tfjs-node, for a model whose function they compute. */
interface FusedModel {
  kernels: FusedLstmKernels;
  vocabSize: number;
  /** The token embedding table [V, D] (null for a model from before the embedding layer: one-hot steps). */
  embedding: tf.Variable | null;
  layers: { kernel: tf.Variable; recurrentKernel: tf.Variable; bias: tf.Variable }[];
  dense: { kernel: tf.Variable; bias: tf.Variable };
  /** Every trainable variable, in the model's order (lstm_0 kernel, recurrent kernel, bias, ..., dense). */
  variables: tf.Variable[];
}

/** A layer weight's tf.Variable (what tfjs-layers' LayerVariable.read() returns, typed as a plain Tensor). */
export const variable = (w: { read(): tf.Tensor }) => w.read() as tf.Variable;

const fusedModels = new WeakMap<tf.LayersModel, FusedModel | null>();

/**
 * The model as TensorFlow's fused LSTM kernels run it, or null: a backend other than tfjs-node, or a model whose
 * function they do not compute (e.g. one trained before the gates became sigmoid, with tfjs's hardSigmoid), which
 * then runs on tfjs-layers' ops as on every other backend.
 */
function fusedModel(model: tf.LayersModel): FusedModel | null {
  const kernels = fusedLstmKernels();
  if (!kernels) return null;
  if (fusedModels.has(model)) return fusedModels.get(model)!;
  const config = (l: tf.layers.Layer) => l.getConfig() as Record<string, unknown>;
  const vars = (l: tf.layers.Layer, names: string[]) => {
    const w = l.trainableWeights;
    // Names are made unique per process: lstm_0/kernel, then lstm_0/kernel_1 for the next model built.
    const named = w.every((v, j) => new RegExp(`/${names[j]}(_\\d+)?$`).test(v.name));
    return w.length === names.length && named ? w.map(variable) : null;
  };
  // Masking, [the token embedding (models saved before it have none),] the LSTM layers, the sigmoid head.
  let layers = model.layers;
  let embedding: tf.Variable | null = null;
  if (layers[1]?.getClassName() === TokenEmbedding.className) {
    embedding = vars(layers[1], ['embeddings'])?.[0] ?? null;
    if (!embedding) return remember(model, null);
    layers = [layers[0], ...layers.slice(2)];
  }
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
    (config(head).units as number) === 1 &&
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
  if (!ok) return remember(model, null);
  const lw = lstms.map((l) => vars(l, ['kernel', 'recurrent_kernel', 'bias']));
  const dw = vars(head, ['kernel', 'bias']);
  if (!dw || !lw.every((w) => w)) return remember(model, null);
  const variables = [...(embedding ? [embedding] : []), ...lw.flatMap((w) => w!), ...dw];
  // The optimizer and its checkpoint see the weights in the model's own order: it must be this one.
  const own = model.trainableWeights.map(variable);
  if (own.length !== variables.length || own.some((v, j) => v !== variables[j])) return remember(model, null);
  return remember(model, {
    kernels,
    vocabSize: vocabSizeOf(model),
    embedding,
    layers: lw.map((w) => ({ kernel: w![0], recurrentKernel: w![1], bias: w![2] })),
    dense: { kernel: dw[0], bias: dw[1] },
    variables,
  });
}

function remember(model: tf.LayersModel, fused: FusedModel | null): FusedModel | null {
  fusedModels.set(model, fused);
  return fused;
}

/** Whether this model trains and predicts through TensorFlow's fused LSTM kernels here (tfjs-node only). */
export function usesFusedKernels(model: tf.LayersModel): boolean {
  return fusedModel(model) !== null;
}

/** One LSTM layer's forward pass as the backward kernel needs it again. */
interface LayerPass {
  x: tf.Tensor;
  w: tf.Tensor;
  b: tf.Tensor;
  outs: tf.Tensor[];
}

/**
 * The LSTM layers over a batch: each sequence's last hidden state [B × U] (zeros for a sequence with no real
 * step, as the masked layers model gives), and the layers' passes for the backward kernel. The caller disposes
 * the passes (and `weights`).
 */
function forwardHidden(
  f: FusedModel,
  weights: { w: tf.Tensor; b: tf.Tensor }[],
  batch: FusedBatch,
  zeros: ZeroTensors,
): { last: Float32Array; passes: LayerPass[] } {
  const { steps, rows: B, inputs: F, lengths } = batch;
  const passes: LayerPass[] = [];
  let x: tf.Tensor = tf.tensor3d(batch.x, [steps, B, F]);
  for (const { w, b } of weights) {
    const outs = f.kernels.forward(x, w, b, zeros);
    passes.push({ x, w, b, outs });
    x = outs[6];
  }
  const U = x.shape[2] as number;
  // Sequence k's last real step is h[length - 1, k] (a sequence without one reads h[0, k] and is zeroed below).
  const at = new Int32Array(2 * B);
  lengths.forEach((len, k) => {
    at[2 * k] = Math.max(0, len - 1);
    at[2 * k + 1] = k;
  });
  // No tf.tidy here: tidy walks a returned typed array element by element (~2 ms for a batch's 8k floats).
  const indices = tf.tensor2d(at, [B, 2], 'int32');
  const gathered = tf.gatherND(x, indices);
  const last = gathered.dataSync() as Float32Array;
  tf.dispose([indices, gathered]);
  lengths.forEach((len, k) => {
    if (len === 0) last.fill(0, k * U, (k + 1) * U);
  });
  return { last, passes };
}

/** The dense sigmoid head's logit for row k of `last` [B × U]. */
function headLogit(last: Float32Array, k: number, kernel: ArrayLike<number>, bias: number): number {
  const U = kernel.length;
  let z = bias;
  for (let u = 0; u < U; u++) z += last[k * U + u] * kernel[u];
  return z;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
/** log(1 + e^z) without overflow. */
const softplus = (z: number) => (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z)));

/** Conversion probabilities of `rows`, `batchSize` at a time, through the fused kernels. */
export function fusedPredict(
  model: tf.LayersModel,
  s: Sequences,
  rows: ArrayLike<number>,
  batchSize: number,
): Float64Array | null {
  const f = fusedModel(model);
  if (!f) return null;
  const out = new Float64Array(rows.length);
  const embedding = f.embedding ? { table: f.embedding.dataSync(), dim: f.embedding.shape[1] as number } : null;
  const kernel = f.dense.kernel.dataSync();
  const bias = f.dense.bias.dataSync()[0];
  const zeros = new ZeroTensors();
  const weights = f.layers.map((l) => ({ w: tf.concat([l.kernel, l.recurrentKernel], 0), b: l.bias }));
  try {
    for (let start = 0; start < rows.length; start += batchSize) {
      const part = Array.from({ length: Math.min(batchSize, rows.length - start) }, (_, k) => rows[start + k]);
      const { last, passes } = forwardHidden(f, weights, fusedBatch(s, part, f.vocabSize, embedding), zeros);
      disposePasses(passes);
      for (let k = 0; k < part.length; k++) out[start + k] = sigmoid(headLogit(last, k, kernel, bias));
    }
  } finally {
    tf.dispose(weights.map((w) => w.w));
    zeros.dispose();
  }
  return out;
}

function disposePasses(passes: LayerPass[]): void {
  // The weights belong to the caller; x of the first layer and every kernel output are the pass's own.
  for (const p of passes) tf.dispose([p.x, ...p.outs.slice(0, 6)]);
  tf.dispose(passes.at(-1)?.outs[6]);
}

/** Adam state of the models training on the fused path (tfjs's own optimizer is left unused there). */
const optimizers = new WeakMap<tf.LayersModel, Adam>();

function optimizerFor(model: tf.LayersModel, f: FusedModel): Adam {
  let adam = optimizers.get(model);
  if (!adam) {
    const c = model.optimizer.getConfig() as { learningRate: number; beta1: number; beta2: number; epsilon: number };
    adam = new Adam(
      f.variables.map((v) => v.size),
      c.learningRate,
      c.beta1,
      c.beta2,
      c.epsilon,
    );
    optimizers.set(model, adam);
  }
  return adam;
}

/** The fused path's optimizer state in the checkpoint layout (tfjs Adam's), or null when the model trains elsewhere. */
export function saveFusedOptimizer(model: tf.LayersModel): SavedOptimizerWeight[] | null {
  const f = fusedModel(model);
  const adam = optimizers.get(model);
  return f && adam
    ? adam.save(
        f.variables.map((v) => v.name),
        f.variables.map((v) => v.shape),
      )
    : null;
}

/** Restores a checkpoint's optimizer state for the fused path; false when the model trains elsewhere. */
export function restoreFusedOptimizer(model: tf.LayersModel, saved: SavedOptimizerWeight[]): boolean {
  const f = fusedModel(model);
  if (!f) return false;
  optimizerFor(model, f).restore(saved);
  return true;
}

/**
 * Trains a model through the fused kernels: its weights are copied out of the model's variables once, updated
 * by Adam in place each step, and written back by finish() (call it before the model is used or saved).
 */
export class FusedTrainer {
  private readonly zeros = new ZeroTensors();
  /** Per LSTM layer: w = [kernel; recurrentKernel] ([F + U, 4U], as the kernels take it) and b [4U]. */
  private readonly lstm: { w: Float32Array; b: Float32Array; inputs: number }[];
  private readonly dense: { kernel: Float32Array; bias: Float32Array };
  /** The token embedding table [V × D], or null (a one-hot model). */
  private readonly embedding: { table: Float32Array; dim: number } | null;
  /** Views of the arrays above, one per trainable variable in the model's order. */
  private readonly params: Float32Array[];

  private constructor(
    private readonly f: FusedModel,
    private readonly adam: Adam,
  ) {
    this.embedding = f.embedding
      ? { table: Float32Array.from(f.embedding.dataSync()), dim: f.embedding.shape[1] as number }
      : null;
    this.lstm = f.layers.map((l) => {
      const k = l.kernel.dataSync();
      const r = l.recurrentKernel.dataSync();
      const w = new Float32Array(k.length + r.length);
      w.set(k);
      w.set(r, k.length);
      return { w, b: Float32Array.from(l.bias.dataSync()), inputs: l.kernel.shape[0] };
    });
    this.dense = {
      kernel: Float32Array.from(f.dense.kernel.dataSync()),
      bias: Float32Array.from(f.dense.bias.dataSync()),
    };
    this.params = [
      ...(this.embedding ? [this.embedding.table] : []),
      ...this.lstm.flatMap((l, j) => {
        const split = f.layers[j].kernel.size;
        return [l.w.subarray(0, split), l.w.subarray(split), l.b];
      }),
      this.dense.kernel,
      this.dense.bias,
    ];
  }

  /** A trainer for the model, or null when it does not run on the fused kernels here. */
  static for(model: tf.LayersModel): FusedTrainer | null {
    const f = fusedModel(model);
    if (!f) return null;
    return new FusedTrainer(f, optimizerFor(model, f));
  }

  /**
   * One batch's class-weighted loss (the batch mean of binary cross-entropy × the row's class weight, as fit()
   * computes it) and its gradient for each trainable variable, in the model's order. The head's gradient is the
   * logit form of the cross-entropy's: dL/dz = w (sigmoid(z) - y) / B.
   */
  gradients(
    s: Sequences,
    idx: ArrayLike<number>,
    classWeight: Record<number, number>,
  ): { loss: number; grads: Float32Array[] } {
    const batch = fusedBatch(s, idx, this.f.vocabSize, this.embedding);
    const { steps, rows: B } = batch;
    const weights = this.lstm.map((l) => ({
      w: tf.tensor2d(l.w, [l.inputs + l.b.length / 4, l.b.length]),
      b: tf.tensor1d(l.b),
    }));
    const { last, passes } = forwardHidden(this.f, weights, batch, this.zeros);
    const kernel = this.dense.kernel;
    const U = kernel.length;
    const dKernel = new Float64Array(U);
    let dBias = 0;
    let loss = 0;
    // The gradient of h: nonzero only at each sequence's last real step.
    const dh = new Float32Array(steps * B * U);
    for (let k = 0; k < B; k++) {
      const y = s.labels[idx[k]];
      const weight = classWeight[y];
      const z = headLogit(last, k, kernel, this.dense.bias[0]);
      loss += weight * softplus(y ? -z : z);
      const dz = (weight * (sigmoid(z) - y)) / B;
      dBias += dz;
      for (let u = 0; u < U; u++) dKernel[u] += last[k * U + u] * dz;
      const len = batch.lengths[k];
      if (len > 0) for (let u = 0; u < U; u++) dh[((len - 1) * B + k) * U + u] = dz * kernel[u];
    }
    const grads: Float32Array[] = [];
    let dOut: tf.Tensor = tf.tensor3d(dh, [steps, B, U]);
    for (let j = passes.length - 1; j >= 0; j--) {
      const p = passes[j];
      const [dx, dw, db] = this.f.kernels.backward(p.x, p.w, p.b, p.outs, dOut, this.zeros);
      dOut.dispose();
      dOut = dx;
      const w = dw.dataSync() as Float32Array;
      const split = this.f.layers[j].kernel.size;
      grads.unshift(w.subarray(0, split), w.subarray(split), db.dataSync() as Float32Array);
      tf.dispose([dw, db]);
    }
    if (this.embedding) {
      // The embedding's gradient: each step's input gradient (its first D columns) added to its token's row.
      const { table, dim: D } = this.embedding;
      const dx = dOut.dataSync() as Float32Array;
      const F = batch.inputs;
      const dTable = new Float32Array(table.length);
      batch.tokens.forEach((tok, at) => {
        if (tok > 0) for (let d = 0; d < D; d++) dTable[(tok - 1) * D + d] += dx[at * F + d];
      });
      grads.unshift(dTable);
    }
    dOut.dispose();
    disposePasses(passes);
    tf.dispose(weights.flatMap((w) => [w.w, w.b]));
    grads.push(Float32Array.from(dKernel), Float32Array.of(dBias));
    return { loss: loss / B, grads };
  }

  /** One training step (gradients, then Adam); returns the batch loss. */
  step(s: Sequences, idx: ArrayLike<number>, classWeight: Record<number, number>): number {
    const { loss, grads } = this.gradients(s, idx, classWeight);
    this.adam.step(this.params, grads);
    return loss;
  }

  /** Writes the trained weights back into the model's variables and frees the trainer's tensors. */
  finish(): void {
    // Copies: a tensor made from a typed array may keep it as its storage.
    this.f.variables.forEach((v, j) => tf.tidy(() => v.assign(tf.tensor(Float32Array.from(this.params[j]), v.shape))));
    this.zeros.dispose();
  }

  /** Frees the trainer's tensors and leaves the model as it was. */
  dispose(): void {
    this.zeros.dispose();
  }
}
