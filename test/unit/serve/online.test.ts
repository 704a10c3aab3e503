/**
 * Online features (serve/online.ts) evaluate the feature declarations in memory; the batch path renders the same
 * declarations to SQL. On a real DuckDB warehouse, the online row of every user (history before the serving cutoff
 * + the events after it sent as recent events) equals the batch feature SQL run over the whole warehouse at the
 * same as-of time: for the sample pipeline and for a variant with weekly RFM, a funnel window, an activity filter and
 * a short session gap, over data with microsecond times, NULL items, revenues and session ids, and source session
 * ids that meet the generated ones ("1", "2", …); and with customer attributes (numeric and one-hot) as of the as-of
 * time.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadPipeline } from '../../../pipelines/load';
import type { PipelineDefinition } from '../../../pipelines/schema';
import { withDuckDB } from '../../../warehouse/db';
import { createFeatureTable } from '../../../warehouse/features';
import { declareFeatures } from '../../../warehouse/feature-columns';
import { OnlineFeatures, type OnlineRequest } from '../../../serve/online';
import { tempDir } from '../../helpers/warehouse';

const CUTOFF = Date.parse('2024-04-01T00:00:00Z');
const AS_OF = Date.parse('2024-04-20T00:00:00Z');
const EVENT_TYPES = ['view', 'addtocart', 'transaction'];

/** 60,000 events of 3,000 users over 120 days. */
async function makeWarehouse(): Promise<string> {
  const warehouse = join(tempDir('fc-online-'), 'warehouse.duckdb');
  await withDuckDB(warehouse, async (c) => {
    await c.run(
      `CREATE TABLE events AS SELECT 'u' || lpad(CAST(i % 3000 AS VARCHAR), 6, '0') AS user_id,
         TIMESTAMP '2024-01-01' + to_microseconds(((i * 7919) % (120 * 86400)) * 1000000 + (i % 997)) AS ts,
         CASE WHEN i % 17 = 0 THEN 'transaction' WHEN i % 5 = 0 THEN 'addtocart' ELSE 'view' END AS event,
         CASE WHEN i % 11 <> 0 THEN 'i' || (i % 300) END AS item_id,
         CASE WHEN i % 17 = 0 AND i % 3 <> 0 THEN (i % 50) + 0.25 END AS revenue,
         CASE WHEN i % 4 = 0 THEN CAST((i // 7) % 6 AS VARCHAR) END AS session_id, 'gen' AS source_file, i AS source_line
       FROM range(60000) t(i)`,
    );
    // Customer attributes: a numeric one and a categorical one, several dated rows per user (some after the
    // serving cutoff, some undated), a few users without any.
    await c.run(
      `CREATE TABLE customers AS SELECT 'u' || lpad(CAST(i % 2900 AS VARCHAR), 6, '0') AS user_id,
         CASE WHEN i % 7 <> 0 THEN TIMESTAMP '2024-01-01' + to_hours((i * 37) % (110 * 24)) END AS valid_from,
         json_object('age', CASE WHEN i % 13 <> 0 THEN 18 + i % 60 END, 'tier', ['gold', 'silver', 'bronze', 'x y'][1 + i % 4]) AS attributes,
         'cust' AS source_file, i AS source_line
       FROM range(9000) t(i)`,
    );
  });
  return warehouse;
}

/** Every user's batch feature row at AS_OF, and each user's events in [CUTOFF, AS_OF) as recent events. */
async function batchAndRecent(warehouse: string, def: PipelineDefinition) {
  return withDuckDB(':memory:', async (c) => {
    await c.run(`ATTACH '${warehouse}' AS wh (READ_ONLY)`);
    await c.run(`CREATE TABLE events AS SELECT * FROM wh.events`);
    if (def.sources.customers) await c.run(`CREATE TABLE customers AS SELECT * FROM wh.customers`);
    await createFeatureTable(c, def, { cutoff: new Date(AS_OF), eventTypes: EVENT_TYPES, withLabel: false });
    const res = await c.runAndReadAll(`SELECT * EXCLUDE (label) FROM features_out ORDER BY user_id`);
    const names = res.columnNames().slice(1);
    const rows = new Map(
      res.getRows().map((r) => [String(r[0]), r.slice(1).map((v) => (v == null ? NaN : Number(v)))]),
    );
    const ev = await c.runAndReadAll(
      `SELECT user_id, epoch_ms(ts), event, item_id, revenue, session_id FROM events
       WHERE ts >= CAST($a AS TIMESTAMP) AND ts < CAST($b AS TIMESTAMP) ORDER BY user_id, ts`,
      { a: new Date(CUTOFF).toISOString(), b: new Date(AS_OF).toISOString() },
    );
    const recent = new Map<string, OnlineRequest['events']>();
    for (const [u, ts, event, itemId, revenue, sessionId] of ev.getRows()) {
      const list = recent.get(String(u)) ?? [];
      list.push({
        ts: Number(ts),
        event: String(event),
        itemId: itemId == null ? null : String(itemId),
        revenue: revenue == null ? null : Number(revenue),
        sessionId: sessionId == null ? null : String(sessionId),
      });
      recent.set(String(u), list);
    }
    return { batch: rows, featureNames: names, recent };
  });
}

const sample = loadPipeline('sample').definition;
const withCustomers: PipelineDefinition = {
  ...sample,
  sources: {
    ...sample.sources,
    customers: {
      path: 'customers.csv',
      columns: { user_id: 'user_id', validFrom: 'valid_from', attributes: ['age', 'tier'], pii: [] },
    } as unknown as PipelineDefinition['sources']['customers'],
  },
};
const variant: PipelineDefinition = {
  ...sample,
  features: { ...sample.features, rfmUnit: 'weeks', funnelWindow: '2d', activeWithin: '3d', sessionGap: '10m' },
};

describe('online features from the in-memory history + recent events (real DuckDB for the batch side)', () => {
  for (const [label, def] of [
    ['sample', sample],
    ['weekly RFM, funnel window, active within, 10-minute sessions', variant],
    ['customer attributes as of the as-of time', withCustomers],
  ] as const) {
    it(`equal the batch feature SQL over the whole warehouse for every user (${label})`, async () => {
      const warehouse = await makeWarehouse();
      const { batch, featureNames, recent } = await batchAndRecent(warehouse, def);
      const attrs = featureNames.filter((n) => n.startsWith('attr_'));
      assert.equal(attrs.length > 0, def === withCustomers, `attribute features: ${attrs.join(', ')}`);
      assert.deepEqual(
        [...declareFeatures(def, EVENT_TYPES).defs.map((d) => d.name), ...attrs],
        featureNames,
        'every column of the batch SQL is a declared feature, in order',
      );
      const online = await OnlineFeatures.open({
        warehouse,
        def,
        cutoff: new Date(CUTOFF),
        eventTypes: EVENT_TYPES,
        featureNames,
      });
      const users = Array.from({ length: 3000 }, (_, i) => `u${String(i).padStart(6, '0')}`);
      assert.ok(users.filter((u) => recent.get(u)?.length).length > 2000, 'most users send recent events');
      const { x, rowOf } = online.compute(
        users.map((userId) => ({ userId, events: recent.get(userId) ?? [], asOf: AS_OF })),
      );
      assert.deepEqual(x.names, featureNames);
      assert.ok(batch.size > 1000, `${batch.size} users in the batch table`);
      users.forEach((u, k) => {
        const i = rowOf[k];
        const want = batch.get(u);
        if (!want) return assert.equal(i, null, `${u} has no batch row but an online one`);
        assert.notEqual(i, null, `${u} has a batch row but no online one`);
        featureNames.forEach((n, j) =>
          assert.equal(x.columns[j][i!], Math.fround(want[j]), `${u} ${n}: online ≠ batch`),
        );
      });
      if (def === variant)
        assert.ok(
          rowOf.some((r) => r === null),
          'the activity filter drops some users',
        );
    });
  }
});
