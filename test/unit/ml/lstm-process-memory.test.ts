/**
 * The LSTM's bodies run in a child process (infra/threads, isolation 'process'). On tfjs-node its kernels allocate
 * and free buffers of a few MB per call, and glibc kept them in its heaps: scoring the 4.3 M users of 10 M events
 * grew that process by ~1.3 GB a minute (12 GB after 8 minutes) with a constant tensor count. The child now starts
 * with a fixed mmap threshold, so its memory stays flat over batches.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runInThread } from '../../../infra/threads';

describe('LSTM in a child process', { timeout: 300_000 }, () => {
  it('keeps its memory flat over many batches of predictions on tfjs-node', async (t) => {
    try {
      require.resolve('@tensorflow/tfjs-node');
    } catch {
      return t.skip('tfjs-node is not built here (npm run tfjs-node:build): the growth was in its native kernels');
    }
    const before = process.env.FUNNELCAST_TF_BACKEND;
    process.env.FUNNELCAST_TF_BACKEND = 'tensorflow';
    try {
      const r = await runInThread<{ backend: string; grewBytes: number }>({
        file: join(__dirname, '..', '..', 'helpers', 'lstm-memory-job.js'),
        input: { n: 50_000, batches: 8 },
        isolation: 'process',
      });
      assert.equal(r.backend, 'tensorflow');
      // 7 more passes over 50,000 sequences of up to 30 steps: ~700 MB more without the setting, ~0 with it.
      assert.ok(r.grewBytes < 200 * 1024 ** 2, `the process grew by ${Math.round(r.grewBytes / 1024 ** 2)} MB`);
    } finally {
      if (before === undefined) delete process.env.FUNNELCAST_TF_BACKEND;
      else process.env.FUNNELCAST_TF_BACKEND = before;
    }
  });
});
