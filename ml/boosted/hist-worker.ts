/**
 * A helper thread of hist-pool.ts: instantiates the fit's kernel on the shared arena, waits for a new generation in
 * its control words, runs its share of the job (a histogram's features, a partition's piece of rows), stores the
 * result and publishes the generation as done.
 */
import { workerData } from 'node:worker_threads';
import { kernelInstance } from './kernel';
import { C_ARGS, C_DONE, C_GEN, C_JOB, C_RESULT, C_STOP, runJob, type HelperData } from './hist-pool';

const d = workerData as HelperData;
const control = new Int32Array(d.control);
const kernel = kernelInstance(d.module, d.memory);
let seen = 0;
for (;;) {
  Atomics.wait(control, C_GEN, seen);
  seen = Atomics.load(control, C_GEN);
  if (Atomics.load(control, C_STOP) === 1) break;
  control[C_RESULT] = runJob(kernel, d.part, control[C_JOB], control.subarray(C_ARGS, C_ARGS + 5), d);
  Atomics.store(control, C_DONE, seen);
  Atomics.notify(control, C_DONE);
}
