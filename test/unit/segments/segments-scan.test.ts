/**
 * The segments read the scored users in one positional scan of features, scores and reasons when the scores are in
 * the feature table's order (as the score step writes them), and join them by user id otherwise (issue 17: three
 * hash joins of every user id and a sort by id cost most of the segments step at 4.3 M users). Either way the
 * segments file is the same, byte for byte: the ties of the ranks (many users share a forest's score) go the same
 * way, and the rows come out in user order.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { withDuckDB } from '../../../warehouse/db';
import { ensureWarehouseSchema } from '../../../warehouse/schema';
import { buildFeatures } from '../../../warehouse/features';
import { writeColumnsToParquet } from '../../../warehouse/parquet';
import { parsePipeline } from '../../../pipelines/load';
import { buildSegments, usersScan, type SegmentsOptions } from '../../../segments';
import { mulberry32 } from '../../../ml/random';
import { tempDir } from '../../helpers/warehouse';

const def = parsePipeline({
  name: 'scan',
  sources: { events: { path: 'x.csv', columns: { user_id: 'u', ts: 't', event: 'e' } } },
  label: { event: 'buy', horizon: '7d' },
  features: { windows: ['7d'], funnel: ['view', 'cart', 'buy'] },
  campaigns: [{ name: 'top', filter: { field: 'propensity_decile', op: 'lte', value: 2 }, action: 'offer' }],
  segments: { deciles: '1-is-top' },
});

describe('segments: how the scored users are read', () => {
  it('positionally when scores and reasons are in feature order, by id otherwise, with the same bytes', async () => {
    await withDuckDB(':memory:', async (conn) => {
      await ensureWarehouseSchema(conn);
      const rng = mulberry32(9);
      await conn.run(`CREATE TEMP TABLE gen (u VARCHAR, t TIMESTAMP, e VARCHAR, r DOUBLE)`);
      const rows: string[] = [];
      for (let u = 0; u < 300; u++)
        for (let k = 0; k < 1 + Math.floor(rng() * 8); k++) {
          const e = rng() < 0.7 ? 'view' : rng() < 0.6 ? 'cart' : 'buy';
          const day = String(1 + Math.floor(rng() * 30)).padStart(2, '0');
          rows.push(`('u${u}', TIMESTAMP '2024-01-${day} 10:00:00', '${e}', ${e === 'buy' ? 10 + u : 0})`);
        }
      await conn.run(`INSERT INTO gen VALUES ${rows.join(', ')}`);
      await conn.run(
        `INSERT INTO events SELECT u, t, e, NULL, CASE WHEN e = 'buy' THEN r END, NULL, NULL, 'gen', 0, hash(u, t, e) FROM gen`,
      );
      const dir = tempDir();
      const f = await buildFeatures(conn, def, { cutoff: new Date('2024-02-01T00:00:00Z'), outDir: dir });
      const ids = (await conn.runAndReadAll(`SELECT user_id FROM read_parquet('${f.featuresPath}')`))
        .getRows()
        .map((r) => String(r[0]));
      // Few distinct scores, so the deciles' ties decide who is where; reasons for most users.
      const write = async (name: string, order: number[]) => {
        const o = order.map((i) => ids[i]);
        const scoresPath = join(dir, `${name}-scores.parquet`);
        const reasonsPath = join(dir, `${name}-reasons.parquet`);
        await writeColumnsToParquet(conn, scoresPath, [
          { name: 'user_id', type: 'VARCHAR', values: o },
          { name: 'propensity', type: 'DOUBLE', values: order.map((i) => (i % 7) / 10) },
          { name: 'model_version', type: 'VARCHAR', values: o.map(() => 'v0001') },
        ]);
        await writeColumnsToParquet(conn, reasonsPath, [
          { name: 'user_id', type: 'VARCHAR', values: o },
          ...[1, 2, 3].map((k) => ({
            name: `reason_${k}`,
            type: 'VARCHAR' as const,
            values: order.map((i) => (i % 4 >= k ? 'n_events_total' : '')),
          })),
        ]);
        const opts: SegmentsOptions = {
          definition: def,
          runId: `scan-${name}`,
          cutoff: new Date('2024-02-01T00:00:00Z'),
          featuresPath: f.featuresPath,
          scoresPath,
          reasonsPath,
          outDir: join(dir, name),
          modelVersion: 'v0001',
          seed: 1,
        };
        return opts;
      };
      const inOrder = await write(
        'ordered',
        ids.map((_, i) => i),
      );
      const permutation = ids.map((_, i) => (i * 37) % ids.length);
      assert.equal(new Set(permutation).size, ids.length, 'every user once');
      const shuffled = await write('shuffled', permutation);
      assert.equal((await usersScan(conn, inOrder, true)).positional, true);
      assert.equal((await usersScan(conn, shuffled, true)).positional, false);
      const a = await buildSegments(conn, inOrder);
      const b = await buildSegments(conn, shuffled);
      assert.ok(readFileSync(a.segmentsPath).equals(readFileSync(b.segmentsPath)), 'the same segments file');
      const sorted = await conn.runAndReadAll(
        `SELECT count(*) FROM (SELECT user_id, lag(user_id) OVER () AS before FROM read_parquet('${a.segmentsPath}')) WHERE before >= user_id`,
      );
      assert.equal(Number(sorted.getRows()[0][0]), 0, 'rows in user order');
      assert.deepEqual(a.segmentSizes, b.segmentSizes);
    });
  });
});
