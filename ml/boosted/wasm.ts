/**
 * The few bytes of the WebAssembly binary format the histogram kernel (kernel.ts) needs, written out by hand: a
 * module that imports one shared memory and exports functions of i32 parameters. The kernel is generated when a fit
 * starts, so the project needs no WebAssembly toolchain at build or install time (and has no binary blob to trust).
 * Opcodes are those of the WebAssembly 2.0 specification, including fixed-width SIMD (0xfd prefix) and bulk memory
 * (0xfc prefix), which every Node the project supports (>= 20) runs without flags.
 */

export type Code = number[];

/**
 * The WebAssembly API as far as the kernel uses it, typed here because the project compiles against lib ES2022
 * alone (the global is in the DOM and webworker libs, which would let browser globals into server code).
 */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}
export type WasmModule = { readonly __wasmModule: unique symbol };
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: true }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (m: WasmModule, imports: object) => { exports: unknown };
}
export const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const uleb = (v: number): Code => {
  const out: Code = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
};

const sleb = (v: number): Code => {
  const out: Code = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
};

const vec = (items: Code[]): Code => [...uleb(items.length), ...items.flat()];
const name = (s: string): Code => vec([...Buffer.from(s, 'utf8')].map((b) => [b]));
const section = (id: number, body: Code): Code => [id, ...uleb(body.length), ...body];
/** A memory access's alignment (log2 bytes) and constant offset. */
const mem = (align: number, offset: number): Code => [align, ...uleb(offset)];
const simd = (op: number, ...rest: Code): Code => [0xfd, ...uleb(op), ...rest];

export const I32 = 0x7f;
export const V128 = 0x7b;
export const I64 = 0x7e;

/** Instructions, by their text-format names. */
export const op = {
  get: (i: number): Code => [0x20, ...uleb(i)],
  set: (i: number): Code => [0x21, ...uleb(i)],
  tee: (i: number): Code => [0x22, ...uleb(i)],
  i32: (v: number): Code => [0x41, ...sleb(v)],
  add: [0x6a],
  sub: [0x6b],
  mul: [0x6c],
  shl: [0x74],
  or: [0x72],
  geU: [0x4f],
  ltU: [0x49],
  leU: [0x4d],
  eq: [0x46],
  xor: [0x73],
  select: [0x1b],
  load: (offset = 0): Code => [0x28, ...mem(2, offset)],
  load8: (offset = 0): Code => [0x2d, ...mem(0, offset)],
  store: (offset = 0): Code => [0x36, ...mem(2, offset)],
  load64: (offset = 0): Code => [0x29, ...mem(3, offset)],
  store64: (offset = 0): Code => [0x37, ...mem(3, offset)],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number): Code => [0x0c, ...uleb(depth)],
  brIf: (depth: number): Code => [0x0d, ...uleb(depth)],
  /** memory.fill: (address, byte, length) */
  fill: [0xfc, ...uleb(11), 0],
  v128Load: (offset = 0): Code => simd(0, ...mem(4, offset)),
  v128Store: (offset = 0): Code => simd(11, ...mem(4, offset)),
  /** Loads 8 bytes into the low half of a v128 (the high half zero). */
  v128Load64Zero: (offset = 0): Code => simd(93, ...mem(3, offset)),
  f64x2PromoteLowF32x4: simd(95),
  f64x2Add: simd(240),
  f64x2Sub: simd(241),
  i32x4Add: simd(174),
  i32x4Sub: simd(177),
};

export interface WasmFunction {
  name: string;
  params: number[];
  results?: number[];
  /** Local variables after the parameters: [count, type] groups. */
  locals: [number, number][];
  body: Code;
}

/** A module importing `env.memory` (shared, from `pages.initial` to `pages.maximum` 64 KiB pages), exporting `functions`. */
export function wasmModule(functions: WasmFunction[], pages: { initial: number; maximum: number }): Uint8Array {
  const types = functions.map((f) => [
    0x60,
    ...vec(f.params.map((p) => [p])),
    ...vec((f.results ?? []).map((r) => [r])),
  ]);
  const limits = [0x03, ...uleb(pages.initial), ...uleb(pages.maximum)];
  const memoryImport = [...name('env'), ...name('memory'), 0x02, ...limits];
  const bodies = functions.map((f) => {
    const body = [...vec(f.locals.map(([n, t]) => [...uleb(n), t])), ...f.body, ...op.end];
    return [...uleb(body.length), ...body];
  });
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(types)),
    ...section(2, vec([memoryImport])),
    ...section(3, vec(functions.map((_, i) => uleb(i)))),
    ...section(7, vec(functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]))),
    ...section(10, vec(bodies)),
  ]);
}
