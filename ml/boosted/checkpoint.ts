/**
 * Checkpoints of a boosting run: every `checkpointEvery` rounds the trees grown since the last checkpoint go to
 * one more file (chunk-<first round>.json), with the early-stopping state after them. A repeated fit (a killed
 * worker's retry) reloads the chunks that follow on from round 0 and goes on from there; the scores are rebuilt
 * by replaying the trees, which adds the same leaf values in the same order, so the model has the same bytes.
 * A chunk written for other data or settings (its key differs) is ignored.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../infra/atomic';
import type { BoostTree } from './grow';

export interface BoostState {
  /** Rounds grown so far (= trees). */
  round: number;
  bestRound: number;
  bestLoss: number;
}

interface Chunk extends BoostState {
  key: string;
  from: number;
  trees: Record<keyof BoostTree, string>[];
}

const ARRAYS = {
  feature: Int32Array,
  bin: Uint8Array,
  threshold: Float32Array,
  missingLeft: Uint8Array,
  left: Int32Array,
  right: Int32Array,
  value: Float32Array,
  gain: Float32Array,
} as const;

const b64 = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

function fromB64<T>(s: string, ctor: new (b: ArrayBuffer) => T): T {
  const buf = Buffer.from(s, 'base64');
  const copy = new ArrayBuffer(buf.length);
  new Uint8Array(copy).set(buf);
  return new ctor(copy);
}

export function encodeTree(t: BoostTree): Record<keyof BoostTree, string> {
  return Object.fromEntries(Object.keys(ARRAYS).map((k) => [k, b64(t[k as keyof BoostTree])])) as Record<
    keyof BoostTree,
    string
  >;
}

export function decodeTree(s: Record<keyof BoostTree, string>): BoostTree {
  return Object.fromEntries(
    Object.entries(ARRAYS).map(([k, ctor]) => [
      k,
      fromB64(s[k as keyof BoostTree], ctor as unknown as new (b: ArrayBuffer) => never),
    ]),
  ) as unknown as BoostTree;
}

export function saveChunk(
  dir: string,
  key: string,
  trees: BoostTree[],
  from: number,
  state: BoostState,
  w: { signal?: AbortSignal; tag?: string },
): void {
  const chunk: Chunk = { key, from, ...state, trees: trees.slice(from, state.round).map(encodeTree) };
  writeFileAtomic(join(dir, `chunk-${String(from).padStart(6, '0')}.json`), JSON.stringify(chunk), w);
}

/** The trees and state of the saved chunks that follow on from round 0 (none when the folder is new). */
export function loadChunks(dir: string, key: string): { trees: BoostTree[]; state: BoostState | null } {
  const trees: BoostTree[] = [];
  let state: BoostState | null = null;
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    return { trees, state };
  }
  const files = readdirSync(dir)
    .filter((f) => /^chunk-\d+\.json$/.test(f))
    .sort();
  for (const f of files) {
    const c = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Chunk;
    if (c.key !== key || c.from !== trees.length) break;
    trees.push(...c.trees.map(decodeTree));
    state = { round: c.round, bestRound: c.bestRound, bestLoss: c.bestLoss };
  }
  return { trees, state };
}
