/**
 * The second prediction thread (see predictTrees): walks its half of the rows, already row-major in shared
 * memory, through the packed forest, and signals the waiting main thread through a shared flag.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { addTreeSums, PREDICT_BLOCK, type PredictJob } from './predictor';

const ready = new Int32Array((workerData as { ready: SharedArrayBuffer }).ready);
Atomics.store(ready, 0, 1);
Atomics.notify(ready, 0);

parentPort!.on('message', (job: PredictJob) => {
  const flag = new Int32Array(job.flag);
  try {
    const buffer = job.nodes;
    const forest = {
      nodes: new Int32Array(buffer),
      values: new Float32Array(buffer),
      roots: job.roots,
      depths: job.depths,
    };
    const rows = new Float32Array(job.rows);
    const out = new Float64Array(job.out);
    // Block by block, as the main thread: the same cache-sized working set, and the JIT optimises early.
    for (let start = 0; start < job.m; start += PREDICT_BLOCK) {
      const m = Math.min(PREDICT_BLOCK, job.m - start);
      addTreeSums(forest, rows.subarray(start * job.f, (start + m) * job.f), job.f, m, out, start);
    }
    Atomics.store(flag, 0, 1);
  } catch {
    Atomics.store(flag, 0, 2);
  }
  Atomics.notify(flag, 0);
});
