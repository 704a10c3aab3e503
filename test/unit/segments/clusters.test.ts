/**
 * Behavioural clusters at scale (issue 17: choosing k over all 4.3 M users cost more CPU than training the model and
 * held every user as JS values): k and the centroids come from a seeded sample, and every user, sampled or not, is
 * assigned to the nearest centroid in SQL.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { withDuckDB } from '../../../warehouse/db';
import { mulberry32 } from '../../../ml/random';
import { clusterDistancesSql, clusterInputsSql, clusterSql, fitClusters } from '../../../segments/clusters';

/** 3,000 users in three blobs of ln(1 + x) space, the transform the clusters use. */
async function blobs(conn: import('@duckdb/node-api').DuckDBConnection) {
  const rng = mulberry32(7);
  const centers = [
    [0.5, 4],
    [4, 0.5],
    [4, 4],
  ];
  await conn.run(`CREATE TABLE users (user_id VARCHAR, a DOUBLE, b DOUBLE, blob INTEGER)`);
  const app = await conn.createAppender('users');
  for (let i = 0; i < 3000; i++) {
    const c = centers[i % 3];
    app.appendVarchar(`u${String(i).padStart(5, '0')}`);
    app.appendDouble(Math.expm1(c[0] + (rng() - 0.5) * 0.6));
    app.appendDouble(Math.expm1(c[1] + (rng() - 0.5) * 0.6));
    app.appendInteger(i % 3);
    app.endRow();
  }
  app.closeSync();
}

describe('behavioural clusters', () => {
  it('are fitted on a seeded sample and assign every user to the nearest centroid', async () => {
    await withDuckDB(':memory:', async (conn) => {
      await blobs(conn);
      const job = { relation: 'users f', alias: 'f', columns: ['a', 'b'], seed: 3, sample: 600 };
      const m = await fitClusters(conn, job);
      assert.equal(m.fittedOn, 600, 'fitted on the sample only');
      assert.equal(m.k, 3);
      assert.deepEqual(await fitClusters(conn, job), m, 'the same sample and fit for the same seed');

      const rows = (
        await conn.runAndReadAll(
          `WITH z AS (SELECT f.user_id, f.a, f.b, f.blob, ${clusterInputsSql(m, 'f').join(', ')} FROM users f),
                d AS (SELECT *, ${clusterDistancesSql(m)} FROM z)
           SELECT a, b, blob, ${clusterSql(m)} AS cluster FROM d`,
        )
      ).getRows();
      assert.equal(rows.length, 3000, 'every user, not only the sample, has a cluster');
      const byBlob = new Map<number, Set<number>>();
      for (const [a, b, blob, cluster] of rows.map((r) => r.map(Number))) {
        const z = [(Math.log1p(a) - m.means[0]) / m.sds[0], (Math.log1p(b) - m.means[1]) / m.sds[1]];
        const d = m.centroids.map((c) => (z[0] - c[0]) ** 2 + (z[1] - c[1]) ** 2);
        assert.equal(cluster, d.indexOf(Math.min(...d)) + 1, 'the nearest centroid, 1-based');
        byBlob.set(blob, (byBlob.get(blob) ?? new Set()).add(cluster));
      }
      // Well-separated blobs: each blob is one cluster, and no two blobs share one.
      assert.deepEqual(
        [...byBlob.values()].map((s) => s.size),
        [1, 1, 1],
      );
      assert.equal(new Set([...byBlob.values()].map((s) => [...s][0])).size, 3);
    });
  });

  it('use every user when there are fewer than the sample, and put everyone in cluster 1 below ten users', async () => {
    await withDuckDB(':memory:', async (conn) => {
      await blobs(conn);
      const all = await fitClusters(conn, { relation: 'users f', alias: 'f', columns: ['a', 'b'], seed: 3 });
      assert.equal(all.fittedOn, 3000);
      const few = await fitClusters(conn, {
        relation: '(SELECT * FROM users LIMIT 9) f',
        alias: 'f',
        columns: ['a', 'b'],
        seed: 3,
      });
      assert.equal(few.k, null);
      assert.equal(clusterSql(few), '1');
    });
  });
});
