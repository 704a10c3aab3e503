/**
 * A tree's flat arrays as base64 strings for a model's JSON, and back; the forest and the boosted engine keep
 * their trees this way.
 */
import type { TreeArrays } from './tree';

export const FOREST_FORMAT_VERSION = 1;

export type PredictTree = Omit<TreeArrays, 'bin'> & { bin?: Uint8Array };

export interface SerializedTree {
  feature: string;
  threshold: string;
  missingLeft: string;
  left: string;
  right: string;
  value: string;
}

const b64 = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
function fromB64<T>(s: string, ctor: { new (b: ArrayBuffer): T }): T {
  const buf = Buffer.from(s, 'base64');
  const copy = new ArrayBuffer(buf.length);
  new Uint8Array(copy).set(buf);
  return new ctor(copy);
}

export function serializeTree(t: PredictTree): SerializedTree {
  return {
    feature: b64(t.feature),
    threshold: b64(t.threshold),
    missingLeft: b64(t.missingLeft),
    left: b64(t.left),
    right: b64(t.right),
    value: b64(t.value),
  };
}

export function deserializeTree(s: SerializedTree): PredictTree {
  return {
    feature: fromB64(s.feature, Int32Array),
    threshold: fromB64(s.threshold, Float32Array),
    missingLeft: fromB64(s.missingLeft, Uint8Array),
    left: fromB64(s.left, Int32Array),
    right: fromB64(s.right, Int32Array),
    value: fromB64(s.value, Float32Array),
  };
}
