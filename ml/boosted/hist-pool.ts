/**
 * The kernel's work shared out between the calling thread and helper threads (kernel.ts, on the arena's shared
 * memory), so that both of the bench's threads work on what a boosting round spends most of its time on:
 * - a histogram by feature: with t threads the tree's features are cut into t consecutive ranges and each thread
 *   adds every row into its own features. A feature's sums are the same whichever thread adds them;
 * - a partition by rows: each thread partitions a consecutive piece of the leaf's rows, and the pieces' left rows,
 *   then their right rows, are put back in order: the same rows in the same order as one thread's partition.
 * So the trees are the same bytes with or without helpers.
 *
 * A helper waits on its control words (Atomics), not on messages: a histogram takes milliseconds, and a message
 * round trip would cost a good part of that.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { GrowOps } from './grow';
import { featureParts, type Arena, type Hist, type KernelExports } from './kernel';
import type { WasmMemory, WasmModule } from './wasm';
import { logLossGradients, type RowState } from './gradients';

/**
 * Below these sizes the calling thread works alone: a hand-off is a futex wake and a wait (tens of microseconds on
 * a core of its own), so only work of a few tenths of a millisecond or more is shared out: histograms of at least
 * 2^17 (row, feature) additions (~0.2 ms), partitions of at least 2^16 rows (~0.15 ms). At 2^20 and 2^18 (the
 * thresholds until 2026-12-02, chosen for a machine whose load left no core for the helper) a quarter of the
 * additions of a 337k-row fit and two thirds of its partitioned rows stayed on the calling thread. (Tests lower
 * them to share small data out.)
 */
export const handOff = {
  histWork: 1 << 17,
  partitionRows: 1 << 16,
  /** Rows of a round's gradients (~40 ns each). */
  gradientRows: 1 << 14,
};

/** A helper's share takes well under a second even at millions of rows: far longer means the helper died. */
const HELPER_TIMEOUT_MS = 60_000;

/** Control words of a helper: generation, job, its five arguments, done, stop, result. */
export const C_GEN = 0;
export const C_JOB = 1;
export const C_ARGS = 2;
export const C_DONE = 7;
export const C_STOP = 8;
export const C_RESULT = 9;
const C_WORDS = 10;
/**
 * Jobs: a histogram share (args start, end, hist, t0, t1; t1 = 0: the helper's unrolled part), a partition, the
 * gradients of rows [from, to) (args from, to, byte offset of the pairs in the arena), the codes of the tree's rows
 * [start, end) gathered in order.
 */
export const JOB_HIST = 0;
export const JOB_PARTITION = 1;
export const JOB_GRADIENTS = 2;
export const JOB_GATHER = 3;

export interface HelperData {
  memory: WasmMemory;
  module: WasmModule;
  control: SharedArrayBuffer;
  /** Which buildPart<p> this helper runs when t1 = 0. */
  part: number;
  /** The fit's rows (null: no gradient jobs). */
  state: RowState | null;
}

/** Runs one job with its arguments; returns the partition's left count (0 for the others). */
export function runJob(
  k: KernelExports,
  part: number,
  job: number,
  a: ArrayLike<number>,
  ctx: { memory: WasmMemory; state: RowState | null },
): number {
  if (job === JOB_PARTITION) return k.partition(a[0], a[1], a[2], a[3], a[4]);
  if (job === JOB_GATHER) {
    k.gather(a[0], a[1]);
    return 0;
  }
  if (job === JOB_GRADIENTS) {
    const st = ctx.state!;
    const gh = new Float32Array(ctx.memory.buffer, a[2], 2 * st.score.length);
    logLossGradients(st.score, st.y, st.weight, gh, a[0], a[1]);
    return 0;
  }
  if (a[4] > 0) k.build(a[0], a[1], a[2], a[3], a[4]);
  else k[`buildPart${part}`](a[0], a[1], a[2], 0, 0);
  return 0;
}

export class HistPool implements GrowOps {
  private readonly workers: Worker[] = [];
  private readonly controls: Int32Array[] = [];
  private gen = 0;
  private failure: Error | null = null;
  /** Feature ranges of the tree's feature list (null: every feature, the arena's unrolled parts). */
  private ranges: [number, number][] | null = null;
  private nSel = 0;

  constructor(
    private readonly arena: Arena,
    threads: number,
    private readonly state: RowState | null = null,
  ) {
    const file = join(__dirname, 'hist-worker.js');
    const helpers = Math.min(threads, arena.parts.length) - 1;
    if (helpers > 0 && existsSync(file))
      for (let p = 1; p <= helpers; p++) {
        const control = new SharedArrayBuffer(4 * C_WORDS);
        const data: HelperData = { memory: arena.memory, module: arena.module, control, part: p, state };
        const w = new Worker(file, { workerData: data });
        w.unref();
        w.on('error', (e) => (this.failure = e));
        this.workers.push(w);
        this.controls.push(new Int32Array(control));
      }
    this.setFeatures(null);
  }

  /** Whether helper threads take shares of the work. */
  get threaded(): boolean {
    return this.workers.length > 0;
  }

  /** The tree's features (null: all of them); written into the arena for the kernel. */
  setFeatures(feats: Int32Array | null): void {
    const F = this.arena.layout.nFeatures;
    this.nSel = feats ? feats.length : F;
    if (feats) this.arena.feats.set(feats);
    else for (let j = 0; j < F; j++) this.arena.feats[j] = j;
    this.ranges = feats ? featureParts(feats.length, this.arena.parts.length) : null;
  }

  take(): Hist {
    return this.arena.take();
  }

  release(h: Hist): void {
    this.arena.release(h);
  }

  subtract(parent: Hist, child: Hist): void {
    this.arena.kernel.subtract(parent.ptr, child.ptr, 0, this.nSel);
  }

  build(start: number, end: number, h: Hist): void {
    const nParts = this.ranges ? this.ranges.length : this.arena.parts.length;
    const args = (p: number) => [start, end, h.ptr, ...(this.ranges ? this.ranges[p] : [0, 0])];
    const helpers = (end - start) * this.nSel >= handOff.histWork ? Math.min(this.workers.length, nParts - 1) : 0;
    for (let w = 0; w < helpers; w++) this.post(w, JOB_HIST, args(w + 1));
    // The shares no helper took run here, in order.
    for (let p = 0; p < nParts; p++)
      if (p === 0 || p > helpers)
        runJob(this.arena.kernel, p, JOB_HIST, args(p), { memory: this.arena.memory, state: null });
    this.wait(helpers);
  }

  /** The codes of the tree's rows rows[0, m) into leafCodes, in that order, shared out by rows. */
  gather(m: number): void {
    const helpers = m >= handOff.gradientRows ? this.workers.length : 0;
    const cut = (p: number) => Math.floor((m * p) / (helpers + 1));
    for (let w = 0; w < helpers; w++) this.post(w, JOB_GATHER, [cut(w + 1), cut(w + 2)]);
    this.arena.kernel.gather(0, cut(1));
    this.wait(helpers);
  }

  /** Every training row's gradient pair (row i's at out[2i], out a view of the arena), shared out by rows. */
  gradients(out: Float32Array): void {
    const st = this.state!;
    const n = st.score.length;
    const helpers = n >= handOff.gradientRows ? this.workers.length : 0;
    const cut = (p: number) => Math.floor((n * p) / (helpers + 1));
    for (let w = 0; w < helpers; w++) this.post(w, JOB_GRADIENTS, [cut(w + 1), cut(w + 2), out.byteOffset]);
    logLossGradients(st.score, st.y, st.weight, out, 0, cut(1));
    this.wait(helpers);
  }

  partition(start: number, end: number, feature: number, bin: number, missLeft: number): number {
    const a = this.arena;
    const helpers = end - start >= handOff.partitionRows ? this.workers.length : 0;
    const cut = (p: number) => start + Math.floor(((end - start) * p) / (helpers + 1));
    for (let w = 0; w < helpers; w++) this.post(w, JOB_PARTITION, [cut(w + 1), cut(w + 2), feature, bin, missLeft]);
    const lefts = [a.kernel.partition(start, cut(1), feature, bin, missLeft)];
    this.wait(helpers);
    for (let w = 0; w < helpers; w++) lefts.push(this.controls[w][C_RESULT]);
    // Each piece's left rows (and their gradient pairs and codes) are at the front of the piece, its right rows in
    // scratch (ghScratch, codeScratch) at the piece's start.
    const S = a.layout.stride;
    let at = start;
    for (let p = 0; p <= helpers; p++) {
      if (at !== cut(p)) {
        a.rows.copyWithin(at, cut(p), cut(p) + lefts[p]);
        a.gh.copyWithin(2 * at, 2 * cut(p), 2 * (cut(p) + lefts[p]));
        a.leafCodes.copyWithin(S * at, S * cut(p), S * (cut(p) + lefts[p]));
      }
      at += lefts[p];
    }
    const mid = at;
    for (let p = 0; p <= helpers; p++) {
      const to = cut(p + 1) - lefts[p];
      a.rows.set(a.scratch.subarray(cut(p), to), at);
      a.gh.set(a.ghScratch.subarray(2 * cut(p), 2 * to), 2 * at);
      a.leafCodes.set(a.codeScratch.subarray(S * cut(p), S * to), S * at);
      at += to - cut(p);
    }
    return mid;
  }

  private post(w: number, job: number, args: number[]): void {
    const c = this.controls[w];
    c[C_JOB] = job;
    for (let k = 0; k < args.length; k++) c[C_ARGS + k] = args[k];
    Atomics.store(c, C_GEN, ++this.gen);
    Atomics.notify(c, C_GEN);
  }

  /** Waits for the first `helpers` helpers to finish their last job. */
  private wait(helpers: number): void {
    const since = performance.now();
    for (let w = 0; w < helpers; w++) {
      const c = this.controls[w];
      const gen = Atomics.load(c, C_GEN);
      while (Atomics.load(c, C_DONE) !== gen) {
        Atomics.wait(c, C_DONE, Atomics.load(c, C_DONE), 50);
        if (this.failure) throw new Error(`a boosting helper thread failed: ${this.failure.message}`);
        if (performance.now() - since > HELPER_TIMEOUT_MS)
          throw new Error('a boosting helper thread stopped answering (see the worker log); training stopped');
      }
    }
  }

  async close(): Promise<void> {
    for (const c of this.controls) {
      Atomics.store(c, C_STOP, 1);
      Atomics.store(c, C_GEN, ++this.gen);
      Atomics.notify(c, C_GEN);
    }
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
