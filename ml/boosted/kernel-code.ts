/**
 * The code of the histogram kernel (kernel.ts), generated for one fit's arena layout: its addresses and the
 * feature count are constants of the code. Its functions:
 * - build(start, end, hist, t0, t1): zeroes the features feats[t0, t1) of the histogram at byte `hist`, then adds
 *   each row of rows[start, end) into them; buildPart<p>(start, end, hist): the same for the p-th range of features
 *   given at generation, unrolled (used when the tree has every feature);
 * - subtract(parent, child, t0, t1): parent −= child for the features feats[t0, t1);
 * - partition(start, end, feature, bin, missLeft): moves the rows of rows[start, end) whose code of `feature` goes
 *   left (code ≤ bin, or missing and missLeft) to the front, in order, and writes the others in order to
 *   scratch[start…]; their gradient pairs (gh) and codes (leafCodes), in the order of rows, likewise, to ghScratch
 *   and codeScratch; returns how many went left;
 * - gather(start, end): leafCodes[k] = codes[rows[k]] for the rows k of [start, end) (a tree's rows, in order).
 */
import type { ArenaLayout } from './kernel';
import { I32, I64, op, V128, wasmModule, type Code } from './wasm';

/** Bins per feature, MISSING_BIN (255) last. */
export const BINS = 256;
/** A feature's (gradient, hessian) double pairs, and its Int32 counts, in a histogram. */
export const PAIR_BYTES = BINS * 16;
export const COUNT_BYTES = BINS * 4;
const MISSING_CODE = BINS - 1;

// build's parameters and locals.
const [START, END, HIST, T0, T1, T, J, K, , B, O, BIN, CNT, GHV] = Array.from({ length: 14 }, (_, i) => i);

/** for (v = from; v < to; v++) body — `from`, `to` are code that leaves an i32. */
function forRange(v: number, from: Code, to: Code, body: Code): Code {
  const { get, set, i32 } = op;
  return [
    ...from,
    ...set(v),
    ...op.block,
    ...op.loop,
    ...get(v),
    ...to,
    ...op.geU,
    ...op.brIf(1),
    ...body,
    ...get(v),
    ...i32(1),
    ...op.add,
    ...set(v),
    ...op.br(0),
    ...op.end,
    ...op.end,
  ];
}

/** local `dst` = base + ((local `v`) << shift) */
const offsetOf = (base: Code, v: number, shift: number): Code => [
  ...base,
  ...op.get(v),
  ...op.i32(shift),
  ...op.shl,
  ...op.add,
];

/** Zeroes features feats[t0, t1) of the histogram, then adds rows[start, end) into them. */
function buildBody(l: ArenaLayout): Code {
  const { get, set, tee, i32 } = op;
  const F = l.nFeatures;
  const featOf = [...offsetOf(i32(l.feats), T, 2), ...op.load(), ...set(J)];
  const zero = [
    ...featOf,
    ...offsetOf(get(HIST), J, 12),
    ...i32(0),
    ...i32(PAIR_BYTES),
    ...op.fill,
    ...offsetOf(get(CNT), J, 10),
    ...i32(0),
    ...i32(COUNT_BYTES),
    ...op.fill,
  ];
  const perFeature = [
    ...featOf,
    // bin = j·256 + code of (row, j)
    ...get(J),
    ...i32(8),
    ...op.shl,
    ...get(B),
    ...get(J),
    ...op.add,
    ...op.load8(),
    ...op.or,
    ...set(BIN),
    ...offsetOf(get(HIST), BIN, 4),
    ...tee(O),
    ...get(O),
    ...op.v128Load(),
    ...get(GHV),
    ...op.f64x2Add,
    ...op.v128Store(),
    ...offsetOf(get(CNT), BIN, 2),
    ...tee(O),
    ...get(O),
    ...op.load(),
    ...i32(1),
    ...op.add,
    ...op.store(),
  ];
  return [
    ...get(HIST),
    ...i32(F * PAIR_BYTES),
    ...op.add,
    ...set(CNT),
    ...forRange(T, get(T0), get(T1), zero),
    ...forRange(K, get(START), get(END), rowHead(l, forRange(T, get(T0), get(T1), perFeature))),
  ];
}

/**
 * Row k's (gradient, hessian) pair as two doubles and the address of its codes (gh and leafCodes are in the order of
 * rows: row k's at k, read in sequence); then `perRow`.
 */
function rowHead(l: ArenaLayout, perRow: Code): Code {
  const { set, i32 } = op;
  return [
    ...offsetOf(i32(l.gh), K, 3),
    ...op.v128Load64Zero(),
    ...op.f64x2PromoteLowF32x4,
    ...set(GHV),
    ...i32(l.leafCodes),
    ...op.get(K),
    ...i32(l.stride),
    ...op.mul,
    ...op.add,
    ...set(B),
    ...perRow,
  ];
}

/**
 * build for the features [j0, j1) (every feature of the tree; no feature subsampling), unrolled with each
 * feature's offsets as constants: ~30 % faster than the loop over a feature list.
 */
function buildRangeBody(l: ArenaLayout, j0: number, j1: number): Code {
  const { get, set, tee, i32 } = op;
  const perFeature: Code = [];
  for (let j = j0; j < j1; j++)
    perFeature.push(
      ...get(B),
      ...op.load8(j),
      ...set(BIN),
      ...offsetOf(get(HIST), BIN, 4),
      ...tee(O),
      ...get(O),
      ...op.v128Load(j * PAIR_BYTES),
      ...get(GHV),
      ...op.f64x2Add,
      ...op.v128Store(j * PAIR_BYTES),
      ...offsetOf(get(CNT), BIN, 2),
      ...tee(O),
      ...get(O),
      ...op.load(j * COUNT_BYTES),
      ...i32(1),
      ...op.add,
      ...op.store(j * COUNT_BYTES),
    );
  return [
    ...get(HIST),
    ...i32(l.nFeatures * PAIR_BYTES),
    ...op.add,
    ...set(CNT),
    ...get(HIST),
    ...i32(j0 * PAIR_BYTES),
    ...op.add,
    ...i32(0),
    ...i32((j1 - j0) * PAIR_BYTES),
    ...op.fill,
    ...get(CNT),
    ...i32(j0 * COUNT_BYTES),
    ...op.add,
    ...i32(0),
    ...i32((j1 - j0) * COUNT_BYTES),
    ...op.fill,
    ...forRange(K, get(START), get(END), rowHead(l, perFeature)),
  ];
}

// subtract's parameters and locals.
const [PARENT, CHILD, S0, S1, ST, SJ, P, C, E] = Array.from({ length: 9 }, (_, i) => i);

/** parent −= child, 16 bytes at a time from byte `at` of both, `bytes` long (locals P, C, E). */
function subtractRun(at: Code, bytes: number, sub: Code): Code {
  const { get, set, tee, i32 } = op;
  return [
    ...at,
    ...get(PARENT),
    ...op.add,
    ...tee(P),
    ...i32(bytes),
    ...op.add,
    ...set(E),
    ...at,
    ...get(CHILD),
    ...op.add,
    ...set(C),
    ...op.loop,
    ...get(P),
    ...get(P),
    ...op.v128Load(),
    ...get(C),
    ...op.v128Load(),
    ...sub,
    ...op.v128Store(),
    ...get(C),
    ...i32(16),
    ...op.add,
    ...set(C),
    ...get(P),
    ...i32(16),
    ...op.add,
    ...tee(P),
    ...get(E),
    ...op.ltU,
    ...op.brIf(0),
    ...op.end,
  ];
}

function subtractBody(l: ArenaLayout): Code {
  const { get, set, i32 } = op;
  const F = l.nFeatures;
  const perFeature = [
    ...offsetOf(i32(l.feats), ST, 2),
    ...op.load(),
    ...set(SJ),
    ...subtractRun([...get(SJ), ...i32(12), ...op.shl], PAIR_BYTES, op.f64x2Sub),
    ...subtractRun([...get(SJ), ...i32(10), ...op.shl, ...i32(F * PAIR_BYTES), ...op.add], COUNT_BYTES, op.i32x4Sub),
  ];
  return forRange(ST, get(S0), get(S1), perFeature);
}

// partition's parameters and locals.
const [PSTART, PEND, PCOL, PBIN, PMISS, PK, LO, R, PI, LEFT, SRC, DST, PG] = Array.from({ length: 13 }, (_, i) => i);
// gather's locals after its parameters (start, end).
const [, , GK, GSRC, GDST] = [0, 1, 2, 3, 4];

/** Copies `stride` bytes from the address in local `src` to each address that `dests` leave (16 at a time). */
function copyRow(l: ArenaLayout, src: number, dests: Code[]): Code {
  const out: Code = [];
  for (let o = 0; o < l.stride; o += 16)
    for (const d of dests) out.push(...d, ...op.get(src), ...op.v128Load(o), ...op.v128Store(o));
  return out;
}

/** leafCodes[k] = codes[rows[k]] for k in [start, end): the rows of a tree in its order (partitions move them). */
function gatherBody(l: ArenaLayout): Code {
  const { get, set, i32 } = op;
  const perRow = [
    ...offsetOf(i32(l.rows), GK, 2),
    ...op.load(),
    ...i32(l.stride),
    ...op.mul,
    ...i32(l.codes),
    ...op.add,
    ...set(GSRC),
    ...i32(l.leafCodes),
    ...get(GK),
    ...i32(l.stride),
    ...op.mul,
    ...op.add,
    ...set(GDST),
    ...copyRow(l, GSRC, [get(GDST)]),
  ];
  return forRange(GK, get(0), get(1), perRow);
}

function partitionBody(l: ArenaLayout): Code {
  const { get, set, tee, i32 } = op;
  const rowAt = (base: number, k: number) => [...i32(base), ...get(k), ...i32(l.stride), ...op.mul, ...op.add];
  const toSide = (left: Code, right: Code) => [...left, ...right, ...get(LEFT), ...op.select];
  const perRow = [
    ...offsetOf(i32(l.rows), PK, 2),
    ...op.load(),
    ...set(PI),
    ...offsetOf(i32(l.gh), PK, 3),
    ...op.load64(),
    ...set(PG),
    ...rowAt(l.leafCodes, PK),
    ...set(SRC),
    // left = code is missing ? missLeft : code <= bin (branch-free: the side is a coin toss for the predictor)
    ...get(PMISS),
    ...get(PCOL),
    ...get(SRC),
    ...op.add,
    ...op.load8(),
    ...tee(LEFT),
    ...get(PBIN),
    ...op.leU,
    ...get(LEFT),
    ...i32(MISSING_CODE),
    ...op.eq,
    ...op.select,
    ...set(LEFT),
    // Written once, to the side's address (a select, no branch). The row's gradient pair and codes move with it (in
    // sequence), so histograms read them in order; its codes are read before they are written (the left
    // destination is this row or one before it).
    ...toSide(offsetOf(i32(l.rows), LO, 2), offsetOf(i32(l.scratch), R, 2)),
    ...get(PI),
    ...op.store(),
    ...toSide(offsetOf(i32(l.gh), LO, 3), offsetOf(i32(l.ghScratch), R, 3)),
    ...get(PG),
    ...op.store64(),
    ...toSide(rowAt(l.leafCodes, LO), rowAt(l.codeScratch, R)),
    ...set(DST),
    ...copyRow(l, SRC, [get(DST)]),
    ...get(LO),
    ...get(LEFT),
    ...op.add,
    ...set(LO),
    ...get(R),
    ...get(LEFT),
    ...i32(1),
    ...op.xor,
    ...op.add,
    ...set(R),
  ];
  return [
    ...get(PSTART),
    ...tee(LO),
    ...set(R),
    ...forRange(PK, get(PSTART), get(PEND), perRow),
    ...get(LO),
    ...get(PSTART),
    ...op.sub,
  ];
}

/** The kernel module for this layout, with buildPart<p> for each feature range of `parts`. */
export function kernelModule(l: ArenaLayout, parts: [number, number][]): Uint8Array {
  const locals: [number, number][] = [
    [8, I32],
    [1, V128],
  ];
  return wasmModule(
    [
      { name: 'build', params: [I32, I32, I32, I32, I32], locals, body: buildBody(l) },
      { name: 'subtract', params: [I32, I32, I32, I32], locals: [[5, I32]], body: subtractBody(l) },
      {
        name: 'partition',
        params: [I32, I32, I32, I32, I32],
        results: [I32],
        locals: [
          [7, I32],
          [1, I64],
        ],
        body: partitionBody(l),
      },
      { name: 'gather', params: [I32, I32], locals: [[3, I32]], body: gatherBody(l) },
      ...parts.map(([j0, j1], p) => ({
        name: `buildPart${p}`,
        params: [I32, I32, I32, I32, I32],
        locals,
        body: buildRangeBody(l, j0, j1),
      })),
    ],
    l.pages,
  );
}
