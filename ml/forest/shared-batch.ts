/**
 * What a batch of rows shared between the prediction threads looks like (runBatch in predictor.ts, the helpers in
 * predict-worker.ts): the rows and outputs in shared memory, and a state per block.
 */
import type { BatchOutput, PackedForest } from './kernels';

/*
 * Threads. predictProba and explain are synchronous, so rows are shared out as blocks: the main thread copies a
 * chunk of rows into shared memory and posts it to the persistent helper threads (one on 2 cores, as
 * scikit-learn's n_jobs=2), then every thread, the main one included, takes the next block from a shared cursor
 * until none is left. Whoever is faster takes more blocks, so a thread slowed down by other processes does not
 * hold the batch back, and a helper that is not up yet simply takes none.
 *
 * A helper computes a block into its own buffers and publishes it only if the block is still its own
 * (TAKEN → WRITING → DONE, compare-and-swap). The main thread waits for helpers' blocks at the end, and when one
 * takes far longer than a block should, takes it back (TAKEN → STOLEN) and computes it itself: a helper that died
 * or stalls costs a delay, never a hang or a wrong row. Each row is computed whole by one thread, trees in order,
 * so results are the same bit for bit however rows are shared out.
 */
export const FREE = 0;
export const TAKEN = 1;
export const WRITING = 2;
export const DONE = 3;
export const STOLEN = 4;

/** One chunk of rows in shared memory, as posted to the helpers. */
export interface SharedBatch {
  kind: number;
  nodes: SharedArrayBuffer;
  nodeValues: SharedArrayBuffer;
  roots: SharedArrayBuffer;
  depths: SharedArrayBuffer;
  /** Column-major rows: feature j of row r at [j * m + r]. */
  cols: SharedArrayBuffer;
  f: number;
  m: number;
  block: number;
  topK: number;
  sums: SharedArrayBuffer;
  reasonIdx: SharedArrayBuffer;
  reasonValues: SharedArrayBuffer;
  /** Int32: [next block to take, then one state per block (FREE, TAKEN, WRITING, DONE, STOLEN)]. */
  control: SharedArrayBuffer;
}

/** Typed views of a shared batch (in any thread). */
export function batchViews(b: SharedBatch) {
  const cols = new Float32Array(b.cols);
  return {
    forest: {
      nodes: new Int32Array(b.nodes),
      values: new Float32Array(b.nodes),
      nodeValues: new Float32Array(b.nodeValues),
      roots: new Int32Array(b.roots),
      depths: new Int32Array(b.depths),
    } satisfies PackedForest,
    columns: Array.from({ length: b.f }, (_, j) => cols.subarray(j * b.m, (j + 1) * b.m)),
    out: {
      sums: new Float64Array(b.sums),
      reasonIdx: new Int32Array(b.reasonIdx),
      reasonValues: new Float64Array(b.reasonValues),
    } satisfies BatchOutput,
    control: new Int32Array(b.control),
    nBlocks: Math.ceil(b.m / b.block),
  };
}
