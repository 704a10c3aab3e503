/**
 * The ordered funnel: a stage counts only after the previous one (within the optional window), checked by hand
 * and against a plain JavaScript computation over the same events (RetailRocket sample, generated data).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { writeEventsCsv } from '../../../data/generator';
import { projectRoot } from '../../../infra/root';
import { loadPipeline, parsePipeline } from '../../../pipelines/load';
import { durationMs, type PipelineDefinition } from '../../../pipelines/schema';
import { withDuckDB } from '../../../warehouse/db';
import { extractPipeline } from '../../../warehouse/extract';
import { buildFeatures } from '../../../warehouse/features';
import { ensureWarehouseSchema } from '../../../warehouse/schema';
import { inlinePipeline, tempDir } from '../../helpers/warehouse';

const shared = join(projectRoot(), '..', 'shared', 'datasets');
const noShared = !existsSync(join(shared, 'retailrocket')) && `../shared/datasets/retailrocket is absent (${shared})`;

/** The reference: per user, the times at which each stage is reached, computed with plain loops. */
function referenceFunnel(
  events: { user: string; ts: number; event: string }[],
  stages: string[],
  windowMs: number | null,
) {
  const byUser = new Map<string, { ts: number; event: string }[]>();
  for (const e of events) {
    let l = byUser.get(e.user);
    if (!l) byUser.set(e.user, (l = []));
    l.push(e);
  }
  const users = stages.map(() => 0);
  const gaps: number[][] = stages.map(() => []);
  for (const list of byUser.values()) {
    let reach = list.filter((e) => e.event === stages[0]).map((e) => e.ts);
    for (let k = 0; k < stages.length && reach.length > 0; k++) {
      users[k]++;
      if (k + 1 === stages.length) break;
      const next: number[] = [];
      let firstGap: number | null = null;
      let firstTs = Infinity;
      for (const e of list) {
        if (e.event !== stages[k + 1]) continue;
        // The latest reach of stage k strictly before this event.
        let best = -Infinity;
        for (const r of reach) if (r < e.ts && r > best) best = r;
        if (best === -Infinity || (windowMs !== null && e.ts - best > windowMs)) continue;
        next.push(e.ts);
        if (e.ts < firstTs) {
          firstTs = e.ts;
          firstGap = e.ts - best;
        }
      }
      if (firstGap !== null) gaps[k + 1].push(firstGap);
      reach = next;
    }
  }
  const median = (xs: number[]) => {
    if (xs.length === 0) return null;
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return (s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2) / 3_600_000;
  };
  return stages.map((stage, k) => ({
    stage,
    users: users[k],
    fromPrevious: k === 0 ? null : users[k - 1] > 0 ? users[k] / users[k - 1] : 0,
    medianHoursFromPrevious: k === 0 ? null : median(gaps[k]),
  }));
}

/** Builds the features at the cutoff and compares the funnel with the reference over the same users' events. */
async function compareWithReference(conn: DuckDBConnection, def: PipelineDefinition, cutoff: Date) {
  const r = await buildFeatures(conn, def, { cutoff, outDir: tempDir() });
  const rows = (
    await conn.runAndReadAll(`SELECT user_id, epoch_ms(ts), event FROM events WHERE ts < CAST($t AS TIMESTAMP)`, {
      t: cutoff.toISOString(),
    })
  ).getRows();
  const events = rows.map(([user, ts, event]) => ({ user: String(user), ts: Number(ts), event: String(event) }));
  const windowMs = def.features.funnelWindow ? durationMs(def.features.funnelWindow) : null;
  const want = referenceFunnel(events, def.features.funnel, windowMs);
  assert.equal(r.funnel.length, want.length);
  for (const [k, w] of want.entries()) {
    const got = r.funnel[k];
    assert.equal(got.users, w.users, `${w.stage}: users`);
    assert.equal(got.fromPrevious, w.fromPrevious, `${w.stage}: fromPrevious`);
    if (w.medianHoursFromPrevious === null) assert.equal(got.medianHoursFromPrevious, null);
    else assert.ok(Math.abs(got.medianHoursFromPrevious! - w.medianHoursFromPrevious) < 1e-9, `${w.stage}: median`);
  }
  for (const f of r.funnel) assert.ok(f.fromPrevious === null || f.fromPrevious <= 1, `${f.stage}: at most 100 %`);
  return r;
}

const def = (funnel: string[], funnelWindow?: string) =>
  parsePipeline({
    name: 'funnel',
    sources: { events: { path: 'x.csv', columns: { user_id: 'u', ts: 't', event: 'e' } } },
    label: { event: 'buy', horizon: '7d' },
    features: { windows: ['7d'], funnel, ...(funnelWindow ? { funnelWindow } : {}) },
  });

async function insert(conn: DuckDBConnection, rows: [string, string, string][]) {
  await ensureWarehouseSchema(conn);
  for (const [u, t, e] of rows)
    await conn.run(
      `INSERT INTO events VALUES ($u, CAST($t AS TIMESTAMP), $e, NULL, NULL, NULL, NULL, 'test', 0, hash($u, $t, $e))`,
      { u, t, e },
    );
}

describe('ordered funnel', () => {
  it('counts a stage only after the previous one, so "% of previous" is a step conversion', async () => {
    const cutoff = new Date('2024-01-10T00:00:00Z');
    await withDuckDB(':memory:', async (conn) => {
      await insert(conn, [
        ['a', '2024-01-01 10:00:00', 'view'], // a: view → fav → buy, in order
        ['a', '2024-01-01 12:00:00', 'fav'],
        ['a', '2024-01-02 12:00:00', 'buy'],
        ['b', '2024-01-03 10:00:00', 'buy'], // b: buys, then views: only stage 1
        ['b', '2024-01-04 10:00:00', 'view'],
        ['c', '2024-01-05 10:00:00', 'buy'], // c and d buy without a favourite: stage 1
        ['c', '2024-01-05 09:00:00', 'view'],
        ['d', '2024-01-06 10:00:00', 'view'],
        ['d', '2024-01-06 11:00:00', 'buy'],
      ]);
      const r = await buildFeatures(conn, def(['view', 'fav', 'buy']), { cutoff, outDir: tempDir() });
      // Counting users per stage independently (the old report) gave view 4, fav 1, buy 4: "400 % of previous".
      assert.deepEqual(
        r.funnel.map((f) => [f.stage, f.users, f.fromPrevious, f.medianHoursFromPrevious]),
        [
          ['view', 4, null, null],
          ['fav', 1, 0.25, 2],
          ['buy', 1, 1, 24],
        ],
      );
      const stage = await conn.runAndReadAll(`SELECT user_id, funnel_stage FROM read_parquet($p) ORDER BY user_id`, {
        p: r.featuresPath,
      });
      assert.deepEqual(stage.getRows(), [
        ['a', 3],
        ['b', 1],
        ['c', 1],
        ['d', 1],
      ]);
      // With a 12-hour window a's purchase (24 h after the favourite) no longer counts.
      const w = await buildFeatures(conn, def(['view', 'fav', 'buy'], '12h'), { cutoff, outDir: tempDir() });
      assert.deepEqual(
        w.funnel.map((f) => f.users),
        [4, 1, 0],
      );
      await compareWithReference(conn, def(['view', 'buy']), cutoff);
    });
  });

  it("keeps stage 1's reach times only for users with a stage-2 event (the ASOF join's only partners)", async () => {
    const cutoff = new Date('2024-01-10T00:00:00Z');
    await withDuckDB(':memory:', async (conn) => {
      // 50 users view twice; users 0–4 also favourite, 0–1 buy after it.
      const rows: [string, string, string][] = [];
      for (let u = 0; u < 50; u++) {
        rows.push([`u${u}`, '2024-01-01 10:00:00', 'view'], [`u${u}`, '2024-01-02 10:00:00', 'view']);
        if (u < 5) rows.push([`u${u}`, '2024-01-03 10:00:00', 'fav']);
        if (u < 2) rows.push([`u${u}`, '2024-01-04 10:00:00', 'buy']);
      }
      await insert(conn, rows);
      // The reach tables are dropped by buildFeatures: their sizes are read just before.
      const sizes: Record<string, number> = {};
      const usersSql: string[] = [];
      const spy = new Proxy(conn, {
        get(target, prop, receiver) {
          if (prop !== 'run') return Reflect.get(target, prop, receiver) as unknown;
          return async (sql: string, params?: Record<string, string>) => {
            if (/TEMP TABLE funnel_users/.test(sql)) usersSql.push(sql);
            const drop = /^DROP TABLE IF EXISTS (funnel_reach_\d+)$/.exec(sql);
            if (drop)
              sizes[drop[1]] = Number((await target.runAndReadAll(`SELECT count(*) FROM ${drop[1]}`)).getRows()[0][0]);
            return target.run(sql, params);
          };
        },
      });
      const r = await buildFeatures(spy, def(['view', 'fav', 'buy']), { cutoff, outDir: tempDir() });
      assert.deepEqual(sizes, { funnel_reach_1: 10, funnel_reach_2: 5, funnel_reach_3: 2 });
      // Each user's stage: the stage-1 users joined to the later stages' (small) reach tables, not every stage's
      // users put together and grouped again.
      assert.equal(usersSql.length, 1);
      assert.doesNotMatch(usersSql[0], /UNION/);
      assert.deepEqual(
        r.funnel.map((f) => [f.stage, f.users]),
        [
          ['view', 50],
          ['fav', 5],
          ['buy', 2],
        ],
      );
      await compareWithReference(conn, def(['view', 'fav', 'buy']), cutoff);
    });
  });

  it('reports the funnel without reading the feature file back, unless an activity filter keeps fewer users', async () => {
    const cutoff = new Date('2024-01-10T00:00:00Z');
    await withDuckDB(':memory:', async (conn) => {
      await insert(conn, [
        ['a', '2024-01-01 10:00:00', 'view'],
        ['a', '2024-01-02 10:00:00', 'fav'],
        ['b', '2024-01-09 10:00:00', 'view'],
      ]);
      const reads: string[] = [];
      const spy = new Proxy(conn, {
        get(target, prop, receiver) {
          if (prop !== 'runAndReadAll') return Reflect.get(target, prop, receiver) as unknown;
          return (sql: string, params?: Record<string, string>) => {
            if (/FROM funnel_users/.test(sql)) reads.push(sql);
            return target.runAndReadAll(sql, params);
          };
        },
      });
      const all = await buildFeatures(spy, def(['view', 'fav']), { cutoff, outDir: tempDir() });
      assert.deepEqual(
        all.funnel.map((f) => f.users),
        [2, 1],
      );
      assert.equal(reads.length, 1);
      assert.doesNotMatch(reads[0], /features_out/);
      // Active within 2 days of the cutoff: only b, so the report counts the feature table's users.
      const active = { ...def(['view', 'fav']), features: { ...def(['view', 'fav']).features, activeWithin: '2d' } };
      const some = await buildFeatures(spy, active, { cutoff, outDir: tempDir() });
      assert.deepEqual(
        some.funnel.map((f) => f.users),
        [1, 0],
      );
      assert.match(reads[1], /features_out/);
    });
  });

  it(
    'RetailRocket sample: matches a plain JavaScript computation, with and without a window',
    { skip: noShared },
    async () => {
      const loaded = loadPipeline('retailrocket');
      await withDuckDB(':memory:', async (conn) => {
        await extractPipeline(conn, loaded);
        const cutoff = new Date('2015-09-01T00:00:00Z');
        const r = await compareWithReference(conn, loaded.definition, cutoff);
        assert.ok(r.funnel[2].users > 0 && r.funnel[2].users <= r.funnel[1].users);
        await compareWithReference(
          conn,
          { ...loaded.definition, features: { ...loaded.definition.features, funnelWindow: '1d' } },
          cutoff,
        );
      });
    },
  );

  it('generated events: matches a plain JavaScript computation, with and without a window', async () => {
    const dir = tempDir();
    await writeEventsCsv(join(dir, 'events.csv'), { users: 3000, seed: 7, days: 60, start: '2024-01-01' });
    const loaded = inlinePipeline(
      {
        name: 'gen',
        sources: {
          events: {
            path: 'events.csv',
            columns: {
              user_id: 'user_id',
              ts: 'timestamp',
              event: 'event',
              item_id: 'item_id',
              revenue: 'revenue',
              session_id: 'session_id',
            },
            eventTypes: ['view', 'addtocart', 'transaction'],
          },
        },
        label: { event: 'transaction', horizon: '14d' },
        features: { windows: ['7d'], funnel: ['view', 'addtocart', 'transaction'] },
      },
      dir,
    );
    await withDuckDB(':memory:', async (conn) => {
      await extractPipeline(conn, loaded);
      const cutoff = new Date('2024-02-15T00:00:00Z');
      const r = await compareWithReference(conn, loaded.definition, cutoff);
      assert.ok(r.funnel[2].users > 20, `enough buyers to mean something: ${r.funnel[2].users}`);
      await compareWithReference(
        conn,
        { ...loaded.definition, features: { ...loaded.definition.features, funnelWindow: '2h' } },
        cutoff,
      );
    });
  });
});
