/**
 * The helper thread of hist-pool.ts: waits for a new generation in the control words, adds the second half of
 * the row range into the shared histogram, and publishes the generation as done.
 */
import { workerData } from 'node:worker_threads';
import { addHistogram } from './grow';
import { C_DONE, C_END, C_GEN, C_MID, C_NFEATS, C_STOP, type SharedHistInput } from './hist-pool';

const s = workerData as SharedHistInput;
const control = new Int32Array(s.control);
const codes = new Uint8Array(s.codes);
const grad = new Float32Array(s.grad);
const hess = new Float32Array(s.hess);
const rows = new Uint32Array(s.rows);
const feats = new Int32Array(s.feats);
const hist = new Float64Array(s.hist);
let seen = 0;
for (;;) {
  Atomics.wait(control, C_GEN, seen);
  seen = Atomics.load(control, C_GEN);
  if (Atomics.load(control, C_STOP) === 1) break;
  const n = control[C_NFEATS];
  hist.fill(0);
  addHistogram(
    codes,
    s.nFeatures,
    n > 0 ? feats.subarray(0, n) : null,
    grad,
    hess,
    rows,
    control[C_MID],
    control[C_END],
    hist,
  );
  Atomics.store(control, C_DONE, seen);
  Atomics.notify(control, C_DONE);
}
