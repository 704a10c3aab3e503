/**
 * The forest at prediction time: flat arrays per tree and the raw-value thresholds, nothing from training.
 * `loadForestPredictor` reads the serialized payload, so scoring never loads the training code path.
 */
import type { FeatureMatrix } from '../classifier';
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

/**
 * Mean leaf value over trees for every row. Rows are copied into a row-major block (cache-friendly: a path
 * reads several features of one row) and each block goes through every tree before the next block.
 */
export function predictTrees(trees: PredictTree[], x: FeatureMatrix): Float64Array {
  const n = x.nRows;
  const f = x.columns.length;
  const out = new Float64Array(n);
  const BLOCK = 2048;
  const rows = new Float32Array(BLOCK * f);
  for (let start = 0; start < n; start += BLOCK) {
    const m = Math.min(BLOCK, n - start);
    for (let j = 0; j < f; j++) {
      const col = x.columns[j];
      for (let r = 0; r < m; r++) rows[r * f + j] = col[start + r];
    }
    for (const t of trees) {
      const { feature, threshold, missingLeft, left, right, value } = t;
      for (let r = 0; r < m; r++) {
        const base = r * f;
        let node = 0;
        let feat = feature[0];
        while (feat >= 0) {
          const v = rows[base + feat];
          node = (v !== v ? missingLeft[node] === 1 : v <= threshold[node]) ? left[node] : right[node];
          feat = feature[node];
        }
        out[start + r] += value[node];
      }
    }
  }
  const k = trees.length || 1;
  for (let i = 0; i < n; i++) out[i] /= k;
  return out;
}

/**
 * Per-row feature contributions by path (Saabas): each split credits its feature with the change in the node's
 * positive share along the row's path, averaged over trees. Returns the topK features that raised the score most.
 */
export function explainTrees(
  trees: PredictTree[],
  x: FeatureMatrix,
  topK: number,
): { names: string[][]; values: Float64Array[] } {
  const nF = x.columns.length;
  const names: string[][] = [];
  const values: Float64Array[] = [];
  const contrib = new Float64Array(nF);
  for (let i = 0; i < x.nRows; i++) {
    contrib.fill(0);
    for (const t of trees) {
      let n = 0;
      while (t.feature[n] >= 0) {
        const f = t.feature[n];
        const v = x.columns[f][i];
        const next = (v !== v ? t.missingLeft[n] === 1 : v <= t.threshold[n]) ? t.left[n] : t.right[n];
        contrib[f] += t.value[next] - t.value[n];
        n = next;
      }
    }
    const order = Array.from({ length: nF }, (_, j) => j).sort((a, b) => contrib[b] - contrib[a] || a - b);
    const top = order.slice(0, topK).filter((j) => contrib[j] > 0);
    names.push(top.map((j) => x.names[j]));
    values.push(Float64Array.from(top, (j) => contrib[j] / trees.length));
  }
  return { names, values };
}
