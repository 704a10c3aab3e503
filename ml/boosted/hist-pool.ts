/**
 * Histograms shared out between the main thread and one helper thread: every histogram of a large row range is
 * built as two halves, the first on the calling thread and the second on the helper (on the calling thread too
 * when there is no helper), then added up first half + second half. The halves depend on the range alone, never
 * on which thread computed them, so the trees are the same bytes with or without the helper.
 *
 * The helper waits on a shared control word (Atomics), not on messages: a histogram takes milliseconds, and a
 * message round trip would cost a good part of that.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { addHistogram, type BuildHistogram } from './grow';

/** Below this many rows a histogram is one piece on the calling thread (a hand-off costs more than it saves). */
const SPLIT_MIN_ROWS = 8192;

/** A half histogram takes well under a second even at millions of rows: far longer means the helper died. */
const HELPER_TIMEOUT_MS = 60_000;

/** Control words: generation, start, mid, end, generation done, feature count (0 = all), stop. */
export const C_GEN = 0;
export const C_START = 1;
export const C_MID = 2;
export const C_END = 3;
export const C_DONE = 4;
export const C_NFEATS = 5;
export const C_STOP = 6;

export interface SharedHistInput {
  codes: SharedArrayBuffer;
  nFeatures: number;
  grad: SharedArrayBuffer;
  hess: SharedArrayBuffer;
  rows: SharedArrayBuffer;
  feats: SharedArrayBuffer;
  hist: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

export class HistPool {
  private worker: Worker | null = null;
  /** Whether a helper thread was started (it takes the second halves). */
  readonly threaded: boolean;
  private readonly control: Int32Array;
  private readonly feats: Int32Array;
  private readonly other: Float64Array;
  private gen = 0;

  constructor(
    private readonly shared: SharedHistInput,
    threads: number,
  ) {
    this.control = new Int32Array(shared.control);
    this.feats = new Int32Array(shared.feats);
    this.other = new Float64Array(shared.hist);
    const file = join(__dirname, 'hist-worker.js');
    if (threads >= 2 && existsSync(file)) {
      this.worker = new Worker(file, { workerData: shared });
      this.worker.unref();
      this.worker.on('error', () => (this.worker = null));
    }
    this.threaded = this.worker !== null;
  }

  /** The histogram builder for one tree's features (null: all). */
  builder(feats: Int32Array | null): BuildHistogram {
    const s = this.shared;
    if (feats) this.feats.set(feats);
    const nFeats = feats ? feats.length : 0;
    const codes = new Uint8Array(s.codes);
    const grad = new Float32Array(s.grad);
    const hess = new Float32Array(s.hess);
    const local = feats ? this.feats.subarray(0, nFeats) : null;
    return (rows, start, end, hist) => {
      hist.fill(0);
      if (end - start < SPLIT_MIN_ROWS) {
        addHistogram(codes, s.nFeatures, local, grad, hess, rows, start, end, hist);
        return;
      }
      const mid = start + ((end - start) >> 1);
      const other = this.other;
      if (this.worker) {
        const c = this.control;
        c[C_START] = start;
        c[C_MID] = mid;
        c[C_END] = end;
        c[C_NFEATS] = nFeats;
        Atomics.store(c, C_GEN, ++this.gen);
        Atomics.notify(c, C_GEN);
        addHistogram(codes, s.nFeatures, local, grad, hess, rows, start, mid, hist);
        const since = performance.now();
        while (Atomics.load(c, C_DONE) !== this.gen) {
          Atomics.wait(c, C_DONE, Atomics.load(c, C_DONE), 50);
          if (performance.now() - since > HELPER_TIMEOUT_MS)
            throw new Error('the boosting histogram thread stopped answering (see the worker log); training stopped');
        }
      } else {
        addHistogram(codes, s.nFeatures, local, grad, hess, rows, start, mid, hist);
        other.fill(0);
        addHistogram(codes, s.nFeatures, local, grad, hess, rows, mid, end, other);
      }
      for (let k = 0; k < hist.length; k++) hist[k] += other[k];
    };
  }

  async close(): Promise<void> {
    if (!this.worker) return;
    Atomics.store(this.control, C_STOP, 1);
    Atomics.store(this.control, C_GEN, ++this.gen);
    Atomics.notify(this.control, C_GEN);
    await this.worker.terminate();
    this.worker = null;
  }
}
