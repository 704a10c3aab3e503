/**
 * A prediction helper thread (see runBatch in predictor.ts): for each shared batch it is sent, takes blocks of
 * rows from the shared cursor until none is left, computes each into its own buffers, and publishes it only if
 * the main thread has not taken the block back meanwhile.
 */
import { parentPort } from 'node:worker_threads';
import { newScratch, REASONS, runRows, type BatchOutput } from './kernels';
import { batchViews, DONE, FREE, TAKEN, WRITING, type SharedBatch } from './shared-batch';

parentPort!.on('message', (batch: SharedBatch) => {
  const v = batchViews(batch);
  const { kind, block, topK, m } = batch;
  const scratch = newScratch(kind, block, batch.f);
  const own: BatchOutput = {
    // Every kind sums leaf values (REASONS from the same walk as its contributions).
    sums: new Float64Array(block),
    reasonIdx: new Int32Array(kind === REASONS ? block * topK : 0),
    reasonValues: new Float64Array(kind === REASONS ? block * topK : 0),
  };
  for (let b = Atomics.add(v.control, 0, 1); b < v.nBlocks; b = Atomics.add(v.control, 0, 1)) {
    if (Atomics.compareExchange(v.control, 1 + b, FREE, TAKEN) !== FREE) continue;
    const from = b * block;
    const to = Math.min(m, from + block);
    try {
      own.sums.fill(0);
      runRows(kind, v.forest, v.columns, from, to, topK, scratch, own, 0);
    } catch {
      continue; // left TAKEN: the main thread takes it back and computes it (or reports the error) itself
    }
    if (Atomics.compareExchange(v.control, 1 + b, TAKEN, WRITING) !== TAKEN) continue;
    v.out.sums.set(own.sums.subarray(0, to - from), from);
    if (kind === REASONS) {
      v.out.reasonIdx.set(own.reasonIdx.subarray(0, (to - from) * topK), from * topK);
      v.out.reasonValues.set(own.reasonValues.subarray(0, (to - from) * topK), from * topK);
    }
    Atomics.store(v.control, 1 + b, DONE);
    Atomics.notify(v.control, 1 + b);
  }
});
