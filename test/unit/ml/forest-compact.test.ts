/**
 * A tree that draws a small part of a large table (maxSamples) grows on a compact copy of its rows (ml/forest/tree
 * compactRows): at 3.26 M rows every histogram read missed the cache. The copy must change nothing: the forest
 * below was serialised by the code before it (sha256 of its payload, trees, importances, out-of-bag calibration).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { RandomForest } from '../../../ml/forest';
import { binMatrix } from '../../../ml/forest/binning';
import { buildForestTree, compactRows, drawCounts, growTree, type TreeData } from '../../../ml/forest/tree';
import { mulberry32, normal } from '../../../ml/random';

function generated(n: number, seed: number) {
  const rng = mulberry32(seed);
  const cols = Array.from({ length: 10 }, () => new Float32Array(n));
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    for (const c of cols) c[i] = normal(rng);
    y[i] = rng() < 1 / (1 + Math.exp(-(-2 + cols[0][i] + cols[1][i] * cols[2][i]))) ? 1 : 0;
  }
  return { x: { nRows: n, names: cols.map((_, j) => `f${j}`), columns: cols }, y };
}

describe('forest trees grown on compact rows', () => {
  it('grows the same forest as before the compaction (bit for bit)', async () => {
    const { x, y } = generated(60_000, 21);
    const bins = binMatrix(x, 255);
    const rows = Uint32Array.from({ length: 50_000 }, (_, k) => k + 5_000);
    const f = new RandomForest({ nTrees: 8, maxDepth: 8, maxSamples: 5_000 }, 7, 1);
    await f.fitBinned(bins, x.names, y, rows);
    // The digest was taken before the forest had the downsampleMajority setting (off below 1 M rows): without it
    // in the params, the payload must hash as it did (the training rows are now copied once per fit, too).
    const payload = f.serialize().payload as { params: Record<string, unknown> };
    const { downsampleMajority, ...params } = payload.params;
    assert.equal(downsampleMajority, 'auto');
    const digest = createHash('sha256')
      .update(JSON.stringify({ ...payload, params }))
      .digest('hex');
    assert.equal(digest, 'b879c32e83e3907a53b4ffc542d61129a079ddbcd7645f9b7c9fd6f84d841f56');
    assert.equal(f.oobScore, 0.82924);
  });

  it('compacts a small draw, and the tree equals the one grown on the whole table', () => {
    const { x, y } = generated(40_000, 4);
    const bins = binMatrix(x, 255);
    const data: TreeData = {
      nRows: 40_000,
      codes: bins.codes,
      edges: bins.edges,
      y,
      weight: new Float32Array(40_000).fill(1),
    };
    const job = { treeIndex: 0, seed: 99, bootstrap: true, samples: 3_000 };
    const params = { maxDepth: 7, minSamplesLeaf: 5, minSamplesSplit: 10, mtry: 3, criterion: 'gini' as const };
    const rng = mulberry32(job.seed);
    const counts = drawCounts(data, job, rng);
    const rows = Uint32Array.from(counts.keys()).filter((i) => counts[i] > 0);
    const local = compactRows(data, rows);
    assert.equal(local.nRows, rows.length);
    assert.equal(local.codes[3][10], bins.codes[3][rows[10]]);
    const whole = growTree(data, rows, counts, params, rng);
    assert.deepEqual(buildForestTree(data, job, params), whole);
  });
});
