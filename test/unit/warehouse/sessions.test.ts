/**
 * The session count of the feature table (`n_sessions`): the distinct source ids of a user whose events all carry
 * one, the time-ordered split (warehouse/features.ts createSessionsTable) only for users with an event without an
 * id. Both forms must give what serve's in-memory sessionCount gives for every user, including source ids that
 * meet the split's generated ones ("1", "2", …), and the split must not run over the users that do not need it
 * (at 10 M events it cost 7 CPU-seconds per cutoff when it ran over everyone).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { withDuckDB } from '../../../warehouse/db';
import { createFeatureTable } from '../../../warehouse/features';
import { ensureWarehouseSchema } from '../../../warehouse/schema';
import { sessionCount } from '../../../warehouse/feature-user-values';
import { loadPipeline } from '../../../pipelines/load';

const def = loadPipeline('sample').definition;
const CUTOFF = new Date('2024-03-01T00:00:00Z');
const GAP_MS = 30 * 60_000; // the sample's sessionGap

/**
 * 400 users: `s…` with a source id on every event (ids repeat within a user and across users, and some ids are
 * "1", "2" like generated ones), `m…` with some events without an id, `n…` with none. Times are spread so that
 * gaps above and below the 30-minute session gap both occur.
 */
const EVENTS = `
  SELECT ['s', 'm', 'n'][1 + (i % 3)] || (i % 400) AS user_id,
         TIMESTAMP '2024-01-01' + to_microseconds(((i * 7919) % (50 * 86400)) * 1000000 + (i % 997)) AS ts,
         CASE WHEN i % 9 = 0 THEN 'transaction' WHEN i % 4 = 0 THEN 'addtocart' ELSE 'view' END AS event,
         'i' || (i % 40) AS item_id, NULL AS revenue,
         CASE (i % 3)
           WHEN 0 THEN CAST((i // 5) % 4 AS VARCHAR)
           WHEN 1 THEN CASE WHEN i % 7 <> 0 THEN 'x' || ((i // 11) % 3) END
         END AS session_id,
         NULL AS properties, 'gen' AS source_file, i AS source_line, hash(i) AS row_key
  FROM range(12000) t(i)`;

describe('n_sessions: source ids where every event has one, the time split only where needed', () => {
  it('equals the in-memory session count for every user, and splits only users with an event without an id', async () => {
    await withDuckDB(':memory:', async (c) => {
      await ensureWarehouseSchema(c);
      await c.run(`INSERT INTO events ${EVENTS}`);
      await createFeatureTable(c, def, { cutoff: CUTOFF, withLabel: false });
      const batch = new Map(
        (await c.runAndReadAll(`SELECT user_id, n_sessions FROM features_out`))
          .getRows()
          .map(([u, n]) => [String(u), Number(n)]),
      );
      const ev = await c.runAndReadAll(
        `SELECT user_id, list(epoch_us(ts) ORDER BY ts), list(session_id ORDER BY ts) FROM events
         WHERE ts < CAST($t AS TIMESTAMP) GROUP BY user_id`,
        { t: CUTOFF.toISOString() },
      );
      let checked = 0;
      for (const [u, ts, sessions] of ev.getRows()) {
        const times = (ts as { items: bigint[] }).items.map(Number);
        const ids = (sessions as { items: (string | null)[] }).items;
        const n = sessionCount({ n: times.length, ts: times, event: [], item: [], revenue: [], session: ids }, GAP_MS);
        assert.equal(batch.get(String(u)), n, `n_sessions of ${String(u)}`);
        checked++;
      }
      assert.equal(checked, 400 * 3);
      // The split ran over the users with an event without an id (m…, n…), not over the others.
      const split = await c.runAndReadAll(
        `SELECT left(user_id, 1) AS kind, count(*) FROM sessions_split GROUP BY kind ORDER BY kind`,
      );
      assert.deepEqual(
        split.getRows().map(([k, n]) => [String(k), Number(n)]),
        [
          ['m', 400],
          ['n', 400],
        ],
      );
    });
  });
});
