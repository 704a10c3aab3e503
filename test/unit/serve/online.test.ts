/**
 * Online features (serve/online.ts) on a real DuckDB file: a POST batch reads its users' history through the index
 * on the user (the old lookup, an IN over a subquery, scanned the whole history: ~130 ms of CPU per batch at 2.3 M
 * events), and its features equal the batch feature SQL run over the whole warehouse at the same as-of time.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadPipeline } from '../../../pipelines/load';
import { withDuckDB } from '../../../warehouse/db';
import { createFeatureTable } from '../../../warehouse/features';
import { OnlineFeatures, type OnlineRequest } from '../../../serve/online';
import { tempDir } from '../../helpers/warehouse';

const CUTOFF = Date.parse('2024-04-01T00:00:00Z');
const AS_OF = Date.parse('2024-04-20T00:00:00Z');
const EVENT_TYPES = ['view', 'addtocart', 'transaction'];

describe('online features from the warehouse history + recent events (real DuckDB)', () => {
  it('looks a batch up by index and equals the batch feature SQL over the whole warehouse', async () => {
    const def = loadPipeline('sample').definition;
    const warehouse = join(tempDir('fc-online-'), 'warehouse.duckdb');
    // 200,000 events of 20,000 users over 120 days; no session ids, so sessions come from the inactivity gap.
    await withDuckDB(warehouse, async (c) => {
      await c.run(
        `CREATE TABLE events AS SELECT 'u' || lpad(CAST(i % 20000 AS VARCHAR), 6, '0') AS user_id,
           TIMESTAMP '2024-01-01' + to_seconds((i * 7919) % (120 * 86400)) AS ts,
           CASE WHEN i % 17 = 0 THEN 'transaction' WHEN i % 5 = 0 THEN 'addtocart' ELSE 'view' END AS event,
           'i' || (i % 300) AS item_id, CASE WHEN i % 17 = 0 THEN (i % 50) + 0.5 END AS revenue,
           CAST(NULL AS VARCHAR) AS session_id, 'gen' AS source_file, i AS source_line
         FROM range(200000) t(i)`,
      );
    });
    // The batch path: every user at AS_OF from the whole warehouse.
    const { batch, featureNames, recent } = await withDuckDB(':memory:', async (c) => {
      await c.run(`ATTACH '${warehouse}' AS wh (READ_ONLY)`);
      await c.run(`CREATE TABLE events AS SELECT * FROM wh.events`);
      await createFeatureTable(c, def, { cutoff: new Date(AS_OF), eventTypes: EVENT_TYPES, withLabel: false });
      const res = await c.runAndReadAll(`SELECT * EXCLUDE (label) FROM features_out ORDER BY user_id LIMIT 64`);
      const names = res.columnNames().slice(1);
      const rows = new Map(
        res.getRows().map((r) => [String(r[0]), r.slice(1).map((v) => (v == null ? NaN : Number(v)))]),
      );
      const ev = await c.runAndReadAll(
        `SELECT user_id, epoch_ms(ts), event, item_id, revenue FROM events
         WHERE ts >= CAST($a AS TIMESTAMP) AND ts < CAST($b AS TIMESTAMP) ORDER BY user_id, ts`,
        { a: new Date(CUTOFF).toISOString(), b: new Date(AS_OF).toISOString() },
      );
      const byUser = new Map<string, OnlineRequest['events']>();
      for (const [u, ts, event, itemId, revenue] of ev.getRows()) {
        const list = byUser.get(String(u)) ?? [];
        list.push({
          ts: Number(ts),
          event: String(event),
          itemId: String(itemId),
          revenue: revenue == null ? null : Number(revenue),
        });
        byUser.set(String(u), list);
      }
      return { batch: rows, featureNames: names, recent: byUser };
    });
    const online = await OnlineFeatures.open({
      warehouse,
      def,
      cutoff: new Date(CUTOFF),
      eventTypes: EVENT_TYPES,
      featureNames,
    });
    try {
      const users = [...batch.keys()];
      assert.ok(users.filter((u) => recent.get(u)?.length).length > 50, 'most users send recent events');
      const { x, rowOf } = await online.compute(
        users.map((userId) => ({ userId, events: recent.get(userId) ?? [], asOf: AS_OF })),
        AS_OF,
      );
      assert.deepEqual(x.names, featureNames);
      users.forEach((u, k) => {
        const i = rowOf[k];
        assert.notEqual(i, null, u);
        featureNames.forEach((n, j) =>
          assert.equal(x.columns[j][i!], Math.fround(batch.get(u)![j]), `${u} ${n}: online ≠ batch`),
        );
      });
      assert.match(await online.historyPlan(users), /Type: Index Scan/, 'the history lookup scans the whole table');
    } finally {
      online.close();
    }
  });
});
