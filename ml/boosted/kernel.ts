/**
 * The histogram kernel of boosting, in WebAssembly: on this loop (a byte load, then a read-add-write of a bin per
 * feature of every row) V8's optimised JavaScript spends ~4.4 ns per (row, feature) and LightGBM's C++ ~1.5 ns;
 * this kernel ~1.6 ns (docs/boosted.md). The rest of boosting stays in TypeScript.
 *
 * Everything the kernel reads and writes lives in one shared WebAssembly memory (the arena), so the helper threads
 * of hist-pool.ts run the same compiled kernel on the same bytes without copies:
 * - codes: the training rows' bins, row-major (row i's features at i·stride…), so a row's codes share a cache line;
 * - leafCodes: the codes of rows[k] at k·stride, gathered from codes when a tree starts and moved with the rows by
 *   the partitions, so a histogram reads its leaf's codes in sequence: read through the row index, the rows of a
 *   small leaf were a cache miss each (337k rows × 30 features, 10 MB of codes against a 4 MB L2: histograms of
 *   under 2^20 additions took 10.3 CPU ns per (row, feature), larger ones 2.1); a partition reads the split
 *   feature's byte of each;
 *   codeScratch as long;
 * - gh: the gradient and hessian of rows[k] as the Float32 pair k (one 8-byte load, widened to two doubles at once):
 *   in the order of rows, moved with them by the partitions (LightGBM's ordered gradients), so a histogram reads its
 *   leaf's pairs in sequence instead of one cache miss per row at millions of rows; ghScratch as long;
 * - rows: the row indices of the tree, partitioned in place into the leaves (grow.ts), and scratch, as long;
 * - feats: the features of the tree;
 * - histograms: per feature 256 bins of (gradient, hessian) double pairs, then per feature 256 Int32 counts.
 *
 * A histogram adds each row's pair to its bin in row order, feature by feature, so any split of the features
 * between threads gives the same bits as one thread.
 */
import { BINS, COUNT_BYTES, kernelModule, PAIR_BYTES } from './kernel-code';
import { wasm, type WasmMemory, type WasmModule } from './wasm';

export { BINS };
const PAGE = 65536;
/** A wasm32 memory holds at most 65536 pages (4 GiB). */
const MAX_PAGES = 65536;

/** One histogram in the arena: `ptr` its byte offset, views of its (gradient, hessian) pairs and its counts. */
export interface Hist {
  ptr: number;
  /** Feature j's bin b: gradient sum at [(j·256 + b)·2], hessian sum at [… + 1]. */
  gh: Float64Array;
  /** Feature j's bin b: rows at [j·256 + b]. */
  count: Int32Array;
}

export interface ArenaLayout {
  nRows: number;
  nFeatures: number;
  /** Bytes per row of codes: nFeatures rounded up to 16 (a row is copied as whole 16-byte vectors). */
  stride: number;
  codes: number;
  leafCodes: number;
  codeScratch: number;
  gh: number;
  ghScratch: number;
  rows: number;
  scratch: number;
  feats: number;
  hists: number;
  /** The most histograms a tree can hold at once (memory grows to them as they are needed). */
  nHists: number;
  /** Pages of the data and the first histograms, and of the data and every histogram. */
  pages: { initial: number; maximum: number };
}

const align = (v: number) => Math.ceil(v / 64) * 64;

export function histBytes(nFeatures: number): number {
  return nFeatures * (PAIR_BYTES + COUNT_BYTES);
}

/** Where everything goes for n rows, F features and room for `nHists` histograms. */
export function arenaLayout(nRows: number, nFeatures: number, nHists: number): ArenaLayout {
  const stride = Math.max(16, Math.ceil(nFeatures / 16) * 16);
  const codes = 0;
  const leafCodes = align(codes + nRows * stride);
  const codeScratch = align(leafCodes + nRows * stride);
  const gh = align(codeScratch + nRows * stride);
  const ghScratch = align(gh + 8 * nRows);
  const rows = align(ghScratch + 8 * nRows);
  const scratch = align(rows + 4 * nRows);
  const feats = align(scratch + 4 * nRows);
  const hists = align(feats + 4 * nFeatures);
  const end = hists + nHists * histBytes(nFeatures);
  const pages = {
    initial: Math.ceil((hists + Math.min(nHists, 4) * histBytes(nFeatures)) / PAGE),
    maximum: Math.ceil(end / PAGE),
  };
  if (pages.maximum > MAX_PAGES)
    throw new Error(
      `boosted trees: ${nRows} training rows × ${nFeatures} features need ${Math.ceil(end / 2 ** 20)} MiB of ` +
        'histogram memory, over the 4 GiB a WebAssembly memory holds; train on fewer rows or features, or use the forest engine',
    );
  return {
    nRows,
    nFeatures,
    stride,
    codes,
    leafCodes,
    codeScratch,
    gh,
    ghScratch,
    rows,
    scratch,
    feats,
    hists,
    nHists,
    pages,
  };
}

/** The kernel's functions (see kernel-code.ts). */
export interface KernelExports {
  build(start: number, end: number, hist: number, t0: number, t1: number): void;
  subtract(parent: number, child: number, t0: number, t1: number): void;
  partition(start: number, end: number, col: number, bin: number, missLeft: number): number;
  gather(start: number, end: number): void;
  [part: `buildPart${number}`]: (start: number, end: number, hist: number, t0: number, t1: number) => void;
}

/** Features 0…F−1 cut into `n` consecutive ranges as equal as they can be (one per thread). */
export function featureParts(nFeatures: number, n: number): [number, number][] {
  const k = Math.max(1, Math.min(n, nFeatures));
  return Array.from({ length: k }, (_, p) => [Math.floor((p * nFeatures) / k), Math.floor(((p + 1) * nFeatures) / k)]);
}

export function kernelInstance(module: WasmModule, memory: WasmMemory): KernelExports {
  return new wasm.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
}

/** The arena of one fit: its memory, typed views of its parts, its histograms and the compiled kernel. */
export class Arena {
  readonly memory: WasmMemory;
  readonly module: WasmModule;
  readonly kernel: KernelExports;
  readonly codes: Uint8Array;
  readonly leafCodes: Uint8Array;
  readonly codeScratch: Uint8Array;
  readonly gh: Float32Array;
  readonly ghScratch: Float32Array;
  readonly rows: Uint32Array;
  readonly scratch: Uint32Array;
  readonly feats: Int32Array;
  private readonly free: Hist[] = [];
  private made = 0;

  constructor(
    readonly layout: ArenaLayout,
    readonly parts: [number, number][],
  ) {
    const l = layout;
    this.memory = new wasm.Memory({ ...l.pages, shared: true });
    const buf = this.memory.buffer;
    this.codes = new Uint8Array(buf, l.codes, l.nRows * l.stride);
    this.leafCodes = new Uint8Array(buf, l.leafCodes, l.nRows * l.stride);
    this.codeScratch = new Uint8Array(buf, l.codeScratch, l.nRows * l.stride);
    this.scratch = new Uint32Array(buf, l.scratch, l.nRows);
    this.gh = new Float32Array(buf, l.gh, 2 * l.nRows);
    this.ghScratch = new Float32Array(buf, l.ghScratch, 2 * l.nRows);
    this.rows = new Uint32Array(buf, l.rows, l.nRows);
    this.feats = new Int32Array(buf, l.feats, l.nFeatures);
    this.module = new wasm.Module(kernelModule(l, parts));
    this.kernel = kernelInstance(this.module, this.memory);
  }

  /** A histogram buffer: a released one, or the next one of the arena (growing the memory to it). */
  take(): Hist {
    const h = this.free.pop();
    if (h) return h;
    const l = this.layout;
    if (this.made >= l.nHists) throw new Error(`boosted trees: more than ${l.nHists} histograms held at once`);
    const size = histBytes(l.nFeatures);
    const ptr = l.hists + this.made++ * size;
    const pages = Math.ceil((ptr + size) / PAGE) - this.memory.buffer.byteLength / PAGE;
    if (pages > 0) this.memory.grow(pages);
    // A shared memory never moves: views made before it grew stay valid.
    const buf = this.memory.buffer;
    return {
      ptr,
      gh: new Float64Array(buf, ptr, l.nFeatures * BINS * 2),
      count: new Int32Array(buf, ptr + l.nFeatures * PAIR_BYTES, l.nFeatures * BINS),
    };
  }

  release(h: Hist): void {
    this.free.push(h);
  }
}
