/**
 * Saving and loading the LSTM: weights and topology as files (checkpoints, the best epoch), Adam's state so a
 * resumed run continues bit for bit, and the single-JSON form a published model version carries.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic, type Writer } from '../../infra/atomic';
import { selectBackend } from '../tf-backend';
import type { SavedOptimizerWeight } from './adam';
import { restoreFusedOptimizer, saveFusedOptimizer } from './fused';

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
export async function saveOptimizer(model: tf.LayersModel, file: string, writer: Writer): Promise<void> {
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

export async function restoreOptimizer(model: tf.LayersModel, file: string): Promise<void> {
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

export async function loadLstm(dir: string): Promise<{ model: tf.LayersModel; metadata: Record<string, unknown> }> {
  await selectBackend();
  return { model: await loadModel(dir), metadata: JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8')) };
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
