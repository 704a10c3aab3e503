/**
 * Worker thread that grows trees: the binned data arrives in SharedArrayBuffers (no copy per worker), trees go
 * back one message each, so the main thread stays free to heartbeat and report progress.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildForestTree, type BuildJob, type TreeData, type TreeParams } from './tree';

export interface WorkerInput {
  nRows: number;
  nFeatures: number;
  codes: SharedArrayBuffer;
  y: SharedArrayBuffer;
  weight: SharedArrayBuffer;
  /** The training rows (Uint32) when they are a subset of the shared table. */
  rowSet: SharedArrayBuffer | null;
  edges: Float32Array[];
  params: TreeParams;
  jobs: BuildJob[];
}

const w = workerData as WorkerInput;
const codesAll = new Uint8Array(w.codes);
const data: TreeData = {
  nRows: w.nRows,
  codes: Array.from({ length: w.nFeatures }, (_, j) => codesAll.subarray(j * w.nRows, (j + 1) * w.nRows)),
  edges: w.edges,
  y: new Uint8Array(w.y),
  weight: new Float32Array(w.weight),
  rowSet: w.rowSet ? new Uint32Array(w.rowSet) : null,
};
for (const job of w.jobs) {
  const r = buildForestTree(data, job, w.params);
  parentPort!.postMessage({ type: 'tree', index: job.treeIndex, tree: r.tree, importance: r.importance });
}
parentPort!.postMessage({ type: 'done' });
