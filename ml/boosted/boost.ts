/**
 * The boosting loop for binary log loss: each round computes every training row's gradient and hessian at the
 * current scores, draws the round's rows and the tree's features from the round's own seed, grows a tree
 * (grow.ts) and adds its leaf values to the scores; early stopping watches the log loss of the validation rows.
 *
 * Determinism: round r draws from deriveSeed(seed, r) only and every sum is taken in a fixed order, so the same
 * data and seed give the same trees, resumed from a checkpoint or not, with or without the helper thread.
 */
import { createHash } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { BoostedParams } from '../../pipelines/schema/model';
import type { FitOptions } from '../classifier';
import { deriveSeed, mulberry32 } from '../random';
import type { BinnedRows, BoostData } from './data';
import { growTree, leafOfCodes, type BoostTree } from './grow';
import { HistPool } from './hist-pool';
import { Arena, arenaLayout, featureParts } from './kernel';
import { loadChunks, saveChunk } from './checkpoint';
import { sharedRowState } from './gradients';

export { logLossGradients } from './gradients';

export interface BoostResult {
  /** The trees kept (up to the best validation round when stopping early). */
  trees: BoostTree[];
  /** The starting score: log-odds of the (weighted) positive share. */
  bias: number;
  roundsGrown: number;
  bestRound: number;
  /** Validation log loss at the best round (null without validation rows). */
  validLoss: number | null;
  /** Validation scores (log-odds) at the best round, for the calibration. */
  validScores: Float64Array | null;
  resumedRounds: number;
  threaded: boolean;
}

/** log(1 + e^z), finite for large |z|. */
const softplus = (z: number) => (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z)));

/** Adds a tree's leaf values (float32, as stored) to the scores of binned rows, by walking the tree. */
export function addTree(t: BoostTree, rows: BinnedRows, F: number, score: Float64Array): void {
  for (let i = 0; i < rows.nRows; i++) score[i] += t.value[leafOfCodes(t, rows.codes, F, i)];
}

/** Adds each leaf's value to the scores of its rows (rows[start, end) of the round's rows). */
function addLeaves(
  t: BoostTree,
  leaves: { node: number; start: number; end: number }[],
  rows: Uint32Array,
  score: Float64Array,
) {
  for (const l of leaves) {
    const v = t.value[l.node];
    for (let k = l.start; k < l.end; k++) score[rows[k]] += v;
  }
}

/** The gradient pairs of the drawn rows rows[0, m), in that order, from every row's pair in row order. */
function orderGradients(ghRows: Float32Array, rows: Uint32Array, m: number, gh: Float32Array): void {
  for (let k = 0; k < m; k++) {
    gh[2 * k] = ghRows[2 * rows[k]];
    gh[2 * k + 1] = ghRows[2 * rows[k] + 1];
  }
}

function logLoss(y: Uint8Array, score: Float64Array): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += softplus(score[i]) - y[i] * score[i];
  return s / y.length;
}

/** The round's rows: all of them, or a draw without replacement (selection sampling keeps them ascending). */
function drawRows(rows: Uint32Array, n: number, share: number, rng: () => number): number {
  const m = Math.max(1, Math.round(share * n));
  if (m >= n) {
    for (let i = 0; i < n; i++) rows[i] = i;
    return n;
  }
  let need = m;
  let k = 0;
  for (let i = 0; i < n && need > 0; i++)
    if (rng() * (n - i) < need) {
      rows[k++] = i;
      need--;
    }
  return m;
}

/** The tree's features, ascending (null: all of them). */
function drawFeatures(F: number, share: number, rng: () => number): Int32Array | null {
  const k = Math.max(1, Math.round(share * F));
  if (k >= F) return null;
  const idx = Int32Array.from({ length: F }, (_, j) => j);
  for (let t = 0; t < k; t++) {
    const r = t + Math.floor(rng() * (F - t));
    const v = idx[t];
    idx[t] = idx[r];
    idx[r] = v;
  }
  return idx.subarray(0, k).sort();
}

/** Identifies the data and settings a checkpoint belongs to. */
function checkpointKey(d: BoostData, p: BoostedParams, seed: number): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ p, seed, F: d.nFeatures, n: d.train.nRows, v: d.valid?.nRows ?? 0 }));
  h.update(d.train.codes).update(d.train.y).update(new Uint8Array(d.train.weight.buffer));
  if (d.valid) h.update(d.valid.codes).update(d.valid.y);
  return h.digest('hex');
}

export async function boost(
  d: BoostData,
  p: BoostedParams,
  seed: number,
  threads: number,
  options: FitOptions,
): Promise<BoostResult> {
  const F = d.nFeatures;
  const bias = baseLogOdds(d.train);
  // On shared memory: helper threads compute their piece of the gradients (gradients.ts).
  const state = sharedRowState(d.train.y, d.train.weight, bias);
  const score = state.score;
  const valid = d.valid;
  const vScore = valid ? new Float64Array(valid.nRows).fill(bias) : null;
  const stopEarly = valid !== null && p.earlyStoppingRounds > 0;

  const arena = trainingArena(d, p, threads);

  const dir = options.checkpointDir;
  const key = dir ? checkpointKey(d, p, seed) : '';
  const resumed = dir ? loadChunks(dir, key) : { trees: [], state: null };
  const trees: BoostTree[] = resumed.trees;
  const resumedRounds = trees.length;
  for (const t of trees) {
    addTree(t, d.train, F, score);
    if (valid && vScore) addTree(t, valid, F, vScore);
  }
  let bestLoss = resumed.state?.bestLoss ?? Infinity;
  let bestRound = resumed.state?.bestRound ?? 0;
  let saved = trees.length;
  const gp = { ...p };
  const pool = new HistPool(arena, threads, state);
  const threaded = pool.threaded;
  try {
    for (let r = trees.length; r < p.nRounds; r++) {
      if (stopEarly && r - bestRound >= p.earlyStoppingRounds) break;
      if (options.signal?.aborted) throw new Error('training cancelled');
      const tree = growRound(d, gp, mulberry32(deriveSeed(seed, r)), { arena, pool, score });
      trees.push(tree);
      if (valid && vScore) {
        addTree(tree, valid, F, vScore);
        const loss = logLoss(valid.y, vScore);
        if (loss < bestLoss) {
          bestLoss = loss;
          bestRound = r + 1;
        }
      } else bestRound = r + 1;
      if (dir && (r + 1) % p.checkpointEvery === 0) {
        saveChunk(
          dir,
          key,
          trees,
          saved,
          { round: r + 1, bestRound, bestLoss },
          {
            signal: options.signal,
            tag: options.writerTag,
          },
        );
        saved = r + 1;
      }
      options.onProgress?.({ done: r + 1, total: p.nRounds, unit: 'rounds' });
      // Let heartbeats and cancellation through between rounds.
      await nextTurn();
    }
  } finally {
    await pool.close();
  }
  if (options.signal?.aborted) throw new Error('training cancelled');
  const kept = stopEarly ? trees.slice(0, bestRound) : trees;
  const validScores = valid ? replayScores(kept, valid, F, bias) : null;
  return {
    trees: kept,
    bias,
    roundsGrown: trees.length,
    bestRound: kept.length,
    validLoss: valid && validScores ? logLoss(valid.y, validScores) : null,
    validScores,
    resumedRounds,
    threaded,
  };
}

/** The arena of a fit: the training codes (row i's at i·stride), and room for one histogram per leaf (+1). */
function trainingArena(d: BoostData, p: BoostedParams, threads: number): Arena {
  const n = d.train.nRows;
  const F = d.nFeatures;
  // A tree holds at most one histogram per leaf, and one more while a leaf is split.
  const arena = new Arena(arenaLayout(n, F, p.numLeaves + 1), featureParts(F, threads));
  const S = arena.layout.stride;
  for (let i = 0; i < n; i++) arena.codes.set(d.train.codes.subarray(i * F, (i + 1) * F), i * S);
  return arena;
}

/** The log-odds of the weighted positive rate: every row's score before the first tree. */
function baseLogOdds(train: BoostData['train']): number {
  const { y, weight, nRows } = train;
  let wPos = 0;
  let wAll = 0;
  for (let i = 0; i < nRows; i++) {
    wAll += weight[i];
    wPos += y[i] * weight[i];
  }
  const base = Math.min(1 - 1e-12, Math.max(1e-12, wAll > 0 ? wPos / wAll : 0.5));
  return Math.log(base / (1 - base));
}

/**
 * One boosting round: log-loss gradients at the current scores, the round's rows and features drawn from its own
 * seeded generator, a tree grown on them, and the training scores moved by it.
 */
function growRound(
  d: BoostData,
  p: BoostedParams,
  rng: () => number,
  s: { arena: Arena; pool: HistPool; score: Float64Array },
): BoostTree {
  const n = d.train.nRows;
  const F = d.nFeatures;
  const { gh, ghScratch, rows } = s.arena;
  const m = drawRows(rows, n, p.rowSubsample, rng);
  s.pool.gather(m);
  // Every row's gradient pair in row order: in gh itself when the tree takes every row (rows[k] = k), else in
  // ghScratch (free until the first partition), gathered into gh in the order of the drawn rows.
  s.pool.gradients(m === n ? gh : ghScratch);
  if (m < n) orderGradients(ghScratch, rows, m, gh);
  const feats = drawFeatures(F, p.featureSubsample, rng);
  s.pool.setFeatures(feats);
  const leaves: { node: number; start: number; end: number }[] = [];
  const tree = growTree(
    {
      nBins: d.nBins,
      edges: d.edges,
      gh,
      rows: rows.subarray(0, m),
      feats: feats ?? Int32Array.from({ length: F }, (_, j) => j),
      hists: s.pool,
    },
    p,
    leaves,
  );
  // Rows of the round are in their leaves already; other rows (row subsampling) walk the tree.
  if (m === n) addLeaves(tree, leaves, rows, s.score);
  else addTree(tree, d.train, F, s.score);
  return tree;
}

/** The validation scores of the kept trees, replayed (the same sums as during training). */
function replayScores(
  kept: BoostTree[],
  valid: NonNullable<BoostData['valid']>,
  F: number,
  bias: number,
): Float64Array {
  const scores = new Float64Array(valid.nRows).fill(bias);
  for (const t of kept) addTree(t, valid, F, scores);
  return scores;
}
