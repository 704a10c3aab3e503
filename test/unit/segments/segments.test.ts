import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { withDuckDB } from '../../../warehouse/db';
import { ensureWarehouseSchema } from '../../../warehouse/schema';
import { buildFeatures } from '../../../warehouse/features';
import { writeColumnsToParquet } from '../../../warehouse/parquet';
import { parsePipeline } from '../../../pipelines/load';
import { RFM_RULES, RFM_SEGMENTS, rfmSegment } from '../../../segments/rfm';
import { compileFilter } from '../../../segments/campaigns';
import { buildSegments } from '../../../segments';
import { sha256File } from '../../../registry';
import { chooseK, kmeans } from '../../../ml/kmeans';
import { mulberry32 } from '../../../ml/random';
import { tempDir } from '../../helpers/warehouse';
import { isControl } from '../../../lift/assignment';

describe('RFM segment rules', () => {
  it('name every (R, FM) cell exactly once, with all 11 standard names', () => {
    for (let r = 1; r <= 5; r++) {
      for (let fm = 1; fm <= 5; fm++)
        assert.equal(RFM_RULES.filter((x) => x.r.includes(r) && x.fm.includes(fm)).length, 1, `R=${r} FM=${fm}`);
    }
    assert.deepEqual(new Set(RFM_RULES.map((x) => x.segment)), new Set(RFM_SEGMENTS));
    assert.equal(rfmSegment(5, 5), 'Champions');
    assert.equal(rfmSegment(1, 5), "Can't Lose Them");
    assert.equal(rfmSegment(1, 1), 'Lost');
  });
});

describe('k-means', () => {
  it('separates well-separated blobs and picks k by silhouette', () => {
    const rng = mulberry32(1);
    const centers = [
      [0, 0],
      [6, 6],
      [0, 8],
    ];
    const cols = [new Float64Array(300), new Float64Array(300)];
    for (let i = 0; i < 300; i++) {
      const c = centers[i % 3];
      cols[0][i] = c[0] + rng() - 0.5;
      cols[1][i] = c[1] + rng() - 0.5;
    }
    const best = chooseK(cols, 3);
    assert.equal(best.k, 3);
    assert.ok(best.silhouette > 0.8);
    assert.deepEqual(kmeans(cols, 3, 9).labels, kmeans(cols, 3, 9).labels, 'deterministic for a seed');
  });
});

describe('campaign filters', () => {
  it('compile to bound parameters only', () => {
    const f = compileFilter({
      all: [
        { field: 'rfm_segment', op: 'in', value: ["Can't Lose Them", "x'); DROP TABLE events; --"] },
        { not: { field: 'propensity', op: 'lt', value: 0.5 } },
      ],
    });
    assert.ok(!f.sql.includes('DROP'));
    assert.ok(!f.sql.includes("Can't"));
    assert.deepEqual(Object.values(f.params), ["Can't Lose Them", "x'); DROP TABLE events; --", 0.5]);
  });
});

const def = parsePipeline({
  name: 'seg',
  sources: { events: { path: 'x.csv', columns: { user_id: 'u', ts: 't', event: 'e' } } },
  label: { event: 'buy', horizon: '7d' },
  features: { windows: ['7d'], funnel: ['view', 'cart', 'buy'] },
  campaigns: [
    {
      name: 'carted_not_bought',
      filter: {
        all: [
          { event: 'cart', within: '7d', did: true },
          { event: 'buy', within: '7d', did: false },
          { field: 'propensity_percentile', op: 'gte', value: 30 },
        ],
      },
      action: 'remind',
    },
    { name: 'top', filter: { field: 'propensity_decile', op: 'gte', value: 9 }, cap: 15, action: 'offer' },
  ],
  segments: { deciles: '1-is-top' },
  export: { hashUserIds: true },
});

async function world(conn: DuckDBConnection, dir: string) {
  await ensureWarehouseSchema(conn);
  const rng = mulberry32(5);
  await conn.run(`CREATE TEMP TABLE gen (u VARCHAR, t TIMESTAMP, e VARCHAR, r DOUBLE)`);
  const app = await conn.createAppender('gen');
  for (let u = 0; u < 200; u++) {
    const n = 1 + Math.floor(rng() * 12);
    for (let k = 0; k < n; k++) {
      const day = Math.floor(rng() * 40);
      const e = rng() < 0.7 ? 'view' : rng() < 0.6 ? 'cart' : 'buy';
      app.appendVarchar(`u${u}`);
      app.appendVarchar(
        new Date(Date.UTC(2024, 0, 1 + day, Math.floor(rng() * 24))).toISOString().replace('T', ' ').replace('Z', ''),
      );
      app.appendVarchar(e);
      app.appendDouble(e === 'buy' ? 10 + Math.floor(rng() * 90) : 0);
      app.endRow();
    }
  }
  app.closeSync();
  await conn.run(
    `INSERT INTO events SELECT u, t, e, NULL, CASE WHEN e = 'buy' THEN r END, NULL, NULL, 'gen', 0, hash(u, t, e) FROM gen`,
  );
  const cutoff = new Date('2024-02-01T00:00:00Z');
  const f = await buildFeatures(conn, def, { cutoff, outDir: dir });
  const ids = (await conn.runAndReadAll(`SELECT user_id FROM read_parquet('${f.featuresPath}') ORDER BY user_id`))
    .getRows()
    .map((r) => String(r[0]));
  const scoresPath = join(dir, 'scores.parquet');
  await writeColumnsToParquet(conn, scoresPath, [
    { name: 'user_id', type: 'VARCHAR', values: ids },
    { name: 'propensity', type: 'DOUBLE', values: ids.map((_, i) => ((i * 7919) % 1000) / 1000) },
    { name: 'model_version', type: 'VARCHAR', values: ids.map(() => 'v0001') },
  ]);
  return { cutoff, featuresPath: f.featuresPath, scoresPath };
}

describe('segments and exports', () => {
  it('put every user in one RFM segment, select exactly what the rule says, and export identical files on re-run', async () => {
    process.env.FUNNELCAST_EXPORT_SALT = 'pepper';
    await withDuckDB(':memory:', async (conn) => {
      const dir = tempDir();
      const w = await world(conn, dir);
      const run = () =>
        buildSegments(conn, {
          definition: def,
          runId: 'seg-1',
          cutoff: w.cutoff,
          featuresPath: w.featuresPath,
          scoresPath: w.scoresPath,
          outDir: join(dir, 'out'),
          modelVersion: 'v0001',
          seed: 1,
        });
      const r = await run();
      const users = Number(
        (await conn.runAndReadAll(`SELECT count(*) FROM read_parquet('${w.scoresPath}')`)).getRows()[0][0],
      );
      const seg = (
        await conn.runAndReadAll(
          `SELECT count(*), count(DISTINCT user_id), count(rfm_segment) FROM read_parquet('${r.segmentsPath}')`,
        )
      )
        .getRows()[0]
        .map(Number);
      assert.deepEqual(seg, [users, users, users], 'one row and one RFM segment per scored user');
      assert.equal(
        Object.values(r.segmentSizes.rfm).reduce((a, b) => a + b, 0),
        users,
      );

      // Independent SQL for the first campaign, written from its rule text.
      const expected = (
        await conn.runAndReadAll(
          `WITH pct AS (SELECT user_id, 100.0 * percent_rank() OVER (ORDER BY propensity) AS p FROM read_parquet('${w.scoresPath}'))
           SELECT sha256('pepper' || user_id), user_id FROM pct
           WHERE p >= 30
             AND user_id IN (SELECT user_id FROM events WHERE event = 'cart' AND ts >= TIMESTAMP '2024-01-25' AND ts < TIMESTAMP '2024-02-01')
             AND user_id NOT IN (SELECT user_id FROM events WHERE event = 'buy' AND ts >= TIMESTAMP '2024-01-25' AND ts < TIMESTAMP '2024-02-01')
           ORDER BY 1`,
        )
      )
        .getRows()
        .map((x) => [String(x[0]), String(x[1])]);
      // The default control group (10 %) is held out of the selection by the salted hash of (campaign, user),
      // computed here independently in TypeScript: the delivered list is the rest.
      const held = (u: string) => isControl(0.1, '', 'carted_not_bought', u);
      const expectedDelivered = expected.filter(([, u]) => !held(u)).map(([h]) => h);
      const expectedControl = expected.filter(([, u]) => held(u)).map(([h]) => h);
      const c0 = r.campaigns[0];
      const ids = async (sql: string) => (await conn.runAndReadAll(sql)).getRows().map((x) => String(x[0]));
      const got = await ids(`SELECT user_id FROM read_parquet('${c0.parquetPath}') ORDER BY 1`);
      assert.ok(expectedDelivered.length > 0 && expectedControl.length > 0);
      assert.deepEqual(got, expectedDelivered);
      assert.deepEqual(await ids(`SELECT user_id FROM read_parquet('${c0.control.file}') ORDER BY 1`), expectedControl);
      assert.equal(c0.control.rows, expectedControl.length);
      const csv = await ids(`SELECT "User ID" FROM read_csv('${c0.csvPath}') ORDER BY 1`);
      assert.deepEqual(csv, expectedDelivered, 'the CSV round-trips to the same users, none of the control group');
      const arms = (
        await ids(`SELECT user_id || ':' || arm FROM read_parquet('${c0.control.assignmentsPath}')`)
      ).sort();
      assert.deepEqual(arms, expected.map(([, u]) => `${u}:${held(u) ? 'control' : 'treatment'}`).sort());
      const top = r.campaigns[1];
      assert.equal(top.rows + top.control.rows, 15, 'the cap keeps the top 15, the control group is held out of them');

      const manifest = JSON.parse(readFileSync(r.manifestPath, 'utf8'));
      assert.equal(manifest.campaigns[0].rows, c0.rows);
      assert.deepEqual(
        [manifest.campaigns[0].control.share, manifest.campaigns[0].control.rows, manifest.campaigns[0].control.file],
        [0.1, expectedControl.length, 'carted_not_bought.control.parquet'],
      );
      const again = await run();
      assert.deepEqual(
        again.campaigns.map((c) => c.sha256),
        r.campaigns.map((c) => c.sha256),
        'same inputs, byte-identical exports',
      );
      assert.ok(again.changeReport === null);
      const next = await buildSegments(conn, {
        definition: def,
        runId: 'seg-2',
        cutoff: w.cutoff,
        featuresPath: w.featuresPath,
        scoresPath: w.scoresPath,
        outDir: join(dir, 'out2'),
        modelVersion: 'v0002',
        previousRunDir: join(dir, 'out'),
        seed: 1,
      });
      const ch = next.changeReport!;
      assert.deepEqual(ch.rfmAfter, Object.fromEntries(Object.entries(next.segmentSizes.rfm).filter(([, v]) => v > 0)));
      assert.deepEqual(ch.rfmBefore, ch.rfmAfter, 'same inputs: nobody moved');
      assert.deepEqual(ch.movers, []);
      assert.ok(ch.campaignOverlap.every((o) => o.jaccard === 1 && o.before === o.after));

      process.env.FUNNELCAST_EXPORT_SALT = 'other';
      const salted = await run();
      assert.notDeepEqual(salted.campaigns[0].sha256, r.campaigns[0].sha256, 'another salt, other hashed ids');
      process.env.FUNNELCAST_PRODUCTION = '1';
      delete process.env.FUNNELCAST_EXPORT_SALT;
      await assert.rejects(run(), /production exports never use a default salt/);
      delete process.env.FUNNELCAST_PRODUCTION;
    });
  });

  it('fit the clusters on a sample of the users and put every user in one (issue 17)', async () => {
    await withDuckDB(':memory:', async (conn) => {
      const dir = tempDir();
      const w = await world(conn, dir);
      const r = await buildSegments(conn, {
        definition: parsePipeline({ ...def, export: { hashUserIds: false } }),
        runId: 'seg-sample',
        cutoff: w.cutoff,
        featuresPath: w.featuresPath,
        scoresPath: w.scoresPath,
        outDir: join(dir, 'out'),
        modelVersion: 'v0001',
        seed: 1,
        clusterSample: 60,
      });
      const users = JSON.parse(readFileSync(r.manifestPath, 'utf8')).segments.users;
      assert.ok(users > 150);
      assert.equal(r.clusters.fittedOn, 60, 'k and the centroids come from the sample only');
      const [n, clustered] = (
        await conn.runAndReadAll(
          `SELECT count(*), count(*) FILTER (cluster BETWEEN 1 AND ${r.clusters.k}) FROM read_parquet('${r.segmentsPath}')`,
        )
      )
        .getRows()[0]
        .map(Number);
      assert.deepEqual([n, clustered], [users, users], 'every user is in one of the k clusters');
      assert.equal(
        r.clusters.descriptions.reduce((a, d) => a + d.size, 0),
        users,
      );
    });
  });

  it('exports no PII column unless the pipeline allows it, and never as a feature or reason', async () => {
    const withCustomers = (allowPii: string[]) =>
      parsePipeline({
        ...def,
        sources: {
          ...def.sources,
          customers: { path: 'c.csv', columns: { user_id: 'u', attributes: ['plan'], pii: ['email'] }, static: true },
        },
        campaigns: [{ name: 'everyone', filter: { field: 'propensity', op: 'gte', value: 0 }, action: 'mail' }],
        export: { hashUserIds: false, allowPii },
      });
    assert.throws(
      () => parsePipeline({ ...withCustomers([]), export: { allowPii: ['phone'] } }),
      /export\.allowPii\.0.*"phone" is not one of sources\.customers\.columns\.pii \(email\)/s,
    );
    assert.throws(
      () =>
        parsePipeline({
          ...withCustomers([]),
          sources: {
            ...def.sources,
            customers: {
              path: 'c.csv',
              columns: { user_id: 'u', attributes: ['email'], pii: ['email'] },
              static: true,
            },
          },
        }),
      /"email" is a pii column: it cannot also be a feature attribute/,
    );
    await withDuckDB(':memory:', async (conn) => {
      const dir = tempDir();
      const w = await world(conn, dir);
      await conn.run(
        `INSERT INTO customers SELECT user_id, NULL, json_object('email', user_id || '@example.com', 'plan', CASE WHEN hash(user_id) % 2 = 0 THEN 'pro' ELSE 'free' END), 'c.csv', 0
         FROM (SELECT DISTINCT user_id FROM read_parquet('${w.scoresPath}'))`,
      );
      const exportOf = async (allowPii: string[], out: string) => {
        const d = withCustomers(allowPii);
        const f = await buildFeatures(conn, d, { cutoff: w.cutoff, outDir: join(dir, `f-${out}`) });
        assert.ok(
          f.featureNames.some((n) => n.startsWith('attr_plan_')) && !f.featureNames.some((n) => n.includes('email')),
        );
        const r = await buildSegments(conn, {
          definition: d,
          runId: out,
          cutoff: w.cutoff,
          featuresPath: f.featuresPath,
          scoresPath: w.scoresPath,
          outDir: join(dir, out),
          modelVersion: 'v1',
          seed: 1,
        });
        return { csv: readFileSync(r.campaigns[0].csvPath, 'utf8'), rows: r.campaigns[0].rows };
      };
      const plain = await exportOf([], 'plain');
      assert.ok(plain.rows > 100);
      assert.ok(!plain.csv.split('\n')[0].includes('email'), plain.csv.split('\n')[0]);
      assert.ok(!plain.csv.includes('@example.com'), 'no e-mail value anywhere in the file');
      const allowed = await exportOf(['email'], 'allowed');
      assert.ok(allowed.csv.split('\n')[0].split(',').includes('email'));
      assert.equal((allowed.csv.match(/@example\.com/g) ?? []).length, allowed.rows);
    });
  });

  it('a crash between writing an export and renaming it leaves the previous exports intact and readable', async () => {
    process.env.FUNNELCAST_EXPORT_SALT = 'pepper';
    await withDuckDB(':memory:', async (conn) => {
      const dir = tempDir();
      const w = await world(conn, dir);
      const out = join(dir, 'out');
      const run = (scoresPath: string, crashBeforeRenameOf?: string) =>
        buildSegments(conn, {
          definition: def,
          runId: 'seg-1',
          cutoff: w.cutoff,
          featuresPath: w.featuresPath,
          scoresPath,
          outDir: out,
          modelVersion: 'v0001',
          seed: 1,
          crashBeforeRenameOf,
        });
      const first = await run(w.scoresPath);
      const c0 = first.campaigns[0];
      const manifestBefore = readFileSync(first.manifestPath, 'utf8');
      // New scores would change every list; the second run dies after writing the first list's temp CSV.
      const ids = (await conn.runAndReadAll(`SELECT user_id FROM read_parquet('${w.scoresPath}') ORDER BY 1`))
        .getRows()
        .map((r) => String(r[0]));
      const other = join(dir, 'scores2.parquet');
      await writeColumnsToParquet(conn, other, [
        { name: 'user_id', type: 'VARCHAR', values: ids },
        { name: 'propensity', type: 'DOUBLE', values: ids.map((_, i) => ((i * 104729) % 997) / 997) },
        { name: 'model_version', type: 'VARCHAR', values: ids.map(() => 'v0002') },
      ]);
      await assert.rejects(run(other, basename(c0.csvPath)), /injected crash before renaming/);
      const temps = readdirSync(dirname(c0.csvPath)).filter((f) => f.startsWith(`${basename(c0.csvPath)}.tmp-`));
      assert.equal(temps.length, 1, 'the crash happened after the new bytes were written');
      assert.equal(sha256File(c0.csvPath), c0.sha256.csv, 'previous CSV untouched');
      assert.equal(sha256File(c0.parquetPath), c0.sha256.parquet, 'previous Parquet untouched');
      assert.equal(readFileSync(first.manifestPath, 'utf8'), manifestBefore, 'previous manifest untouched');
      const readable = Number(
        (await conn.runAndReadAll(`SELECT count(*) FROM read_csv('${c0.csvPath}')`)).getRows()[0][0],
      );
      assert.equal(readable, c0.rows, 'and readable in full');
      // The next attempt (a retried activity) replaces the leftover temp file and completes.
      const retried = await run(other);
      assert.notEqual(retried.campaigns[0].sha256.csv, c0.sha256.csv);
      assert.deepEqual(
        readdirSync(join(out, 'exports')).filter((f) => f.includes('.tmp-')),
        [],
      );
    });
  });
});
