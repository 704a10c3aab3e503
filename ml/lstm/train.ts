/**
 * Training the LSTM: balanced class weights (undone for calibrated output), seeded epochs with early stopping on
 * validation AUC, a checkpoint after every epoch that a repeated call resumes from, and a cancellation signal.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { LstmParams } from '../../pipelines/schema/model';
import { writeJsonAtomic, type Writer } from '../../infra/atomic';
import { rocAuc } from '../metrics';
import { deriveSeed, mulberry32, shuffle } from '../random';
import { selectBackend } from '../tf-backend';
import type { Sequences } from './batches';
import { createLstmModel, predictSequences, trainEpoch } from './model';
import { loadModel, restoreOptimizer, saveModel, saveOptimizer } from './persist';

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
  /** Training sequences available and used (a stratified sample when more than `maxTrainSequences`). */
  sequences: { available: number; used: number };
}

/**
 * The first `max` of `rows` (already in a seeded random order) with the classes in their proportions: positives
 * and negatives are taken in that order, round(max × positive share) of the former. Stratified, so the sample's
 * conversion rate is the population's and the probabilities need no correction.
 */
export function stratifiedSample(rows: Uint32Array, labels: Uint8Array, max: number): Uint32Array {
  if (rows.length <= max) return rows;
  let positives = 0;
  for (const r of rows) positives += labels[r];
  const wantPos = Math.round((max * positives) / rows.length);
  const out = new Uint32Array(max);
  let pos = 0;
  let neg = 0;
  for (const r of rows) {
    if (labels[r] ? pos >= wantPos : neg >= max - wantPos) continue;
    out[pos + neg] = r;
    if (labels[r]) pos++;
    else neg++;
    if (pos + neg === max) break;
  }
  return out;
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

export interface LstmTrainOptions {
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
}

/** Where training stands after each epoch: what the checkpoint's state.json holds and a resumed call starts from. */
interface EpochState {
  epoch: number;
  bestEpoch: number;
  bestValAuc: number;
  history: LstmTrainResult['history'];
}

/** The seeded training sample (stratified, at most maxTrainSequences) and its first 15 % held out for validation. */
function trainingRows(opts: LstmTrainOptions) {
  const s = opts.sequences;
  const available = shuffle(
    Uint32Array.from(opts.trainRows ?? Uint32Array.from({ length: s.ids.length }, (_, i) => i)),
    mulberry32(opts.seed),
  );
  const rows = stratifiedSample(available, s.labels, opts.params.maxTrainSequences);
  const nVal = Math.max(1, Math.floor(rows.length * 0.15));
  return { available, rows, val: rows.subarray(0, nVal), train: Uint32Array.from(rows.subarray(nVal)) };
}

/** A fresh model, or the checkpoint's weights and optimizer moments when an earlier call was interrupted. */
async function modelFromCheckpoint(opts: LstmTrainOptions, ckpt: string) {
  const state = existsSync(join(ckpt, 'state.json'))
    ? (JSON.parse(readFileSync(join(ckpt, 'state.json'), 'utf8')) as EpochState)
    : null;
  const model = createLstmModel(opts.params, opts.vocabSize, opts.sequences.length, opts.seed);
  if (state) {
    const saved = await loadModel(ckpt);
    model.setWeights(saved.getWeights());
    saved.dispose();
    await restoreOptimizer(model, join(ckpt, 'optimizer.json'));
  }
  return { model, state };
}

export async function trainLstm(opts: LstmTrainOptions): Promise<LstmTrainResult> {
  const writer: Writer = { signal: opts.signal, tag: opts.writerTag };
  const { backend } = await selectBackend();
  const s = opts.sequences;
  const p = opts.params;
  const { available, rows, val, train } = trainingRows(opts);
  const classWeight = balancedClassWeight(s.labels, train);

  const ckpt = join(opts.outDir, 'checkpoint');
  const { model, state } = await modelFromCheckpoint(opts, ckpt);
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
    writeJsonAtomic(join(ckpt, 'state.json'), { epoch, bestEpoch, bestValAuc, history } satisfies EpochState, writer);
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
    sequences: { available: available.length, used: rows.length },
  };
}
