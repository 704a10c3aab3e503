/**
 * Choosing k on worker threads (issue 17: the seven k-means fits over 4.3 M users blocked the event loop 57 s)
 * gives the same clusters as choosing it here, bit for bit, and keeps this thread's event loop free meanwhile.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { chooseK, chooseKInThread } from '../../../ml/kmeans';
import { mulberry32 } from '../../../ml/random';

function blobs(n: number, seed: number): Float64Array[] {
  const rng = mulberry32(seed);
  const centers = [
    [0, 0, 1],
    [5, 5, 0],
    [0, 7, 3],
    [6, 0, 5],
  ];
  const cols = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
  for (let i = 0; i < n; i++) {
    const c = centers[i % centers.length];
    for (let j = 0; j < 3; j++) cols[j][i] = c[j] + (rng() - 0.5) * 3;
  }
  return cols;
}

describe('chooseKInThread', () => {
  it('returns what chooseK returns, bit for bit, for k chosen or given', async () => {
    const cols = blobs(5_000, 3);
    for (const given of [undefined, 3]) {
      const here = chooseK(cols, 11, given);
      const there = await chooseKInThread(cols, 11, given);
      assert.equal(there.k, here.k);
      assert.equal(Object.is(there.silhouette, here.silhouette), true, `silhouette ${there.silhouette}`);
      assert.equal(Object.is(there.inertia, here.inertia), true);
      assert.deepEqual(there.labels, here.labels);
      assert.deepEqual(there.centroids, here.centroids);
    }
    await assert.rejects(chooseKInThread([new Float64Array(1)], 1), /too few users/);
  });

  it('leaves the event loop free while the fits run', async () => {
    const cols = blobs(60_000, 5);
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    const started = performance.now();
    await chooseKInThread(cols, 1);
    h.disable();
    const took = performance.now() - started;
    // Run here, the loop would be blocked for the whole time (seconds at this size).
    assert.ok(h.max / 1e6 < 300, `event loop delay ${h.max / 1e6} ms during a ${Math.round(took)} ms choice of k`);
  });
});
