/**
 * Point-in-time customer attributes and labels: nothing recorded after the cutoff reaches the features, explicit
 * labels count only in [T, T + horizon), and labels are observed only when the data covers T + horizon.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { parsePipeline, PipelineDefinitionError } from '../../../pipelines/load';
import type { PipelineInput } from '../../../pipelines/schema';
import { withDuckDB } from '../../../warehouse/db';
import { extractPipeline } from '../../../warehouse/extract';
import { buildFeatures, trainingCutoffFor } from '../../../warehouse/features';
import { ensureWarehouseSchema } from '../../../warehouse/schema';
import { inlinePipeline, tempDir } from '../../helpers/warehouse';

const events = [
  'uid,time,type',
  'a,2024-01-02T10:00:00Z,view',
  'a,2024-01-12T10:00:00Z,view',
  'b,2024-01-03T10:00:00Z,buy',
  'b,2024-01-13T10:00:00Z,view',
  'c,2024-01-04T10:00:00Z,view',
  'c,2024-02-20T10:00:00Z,view', // the data reaches past both cutoffs + horizon
];

function world(extra: Partial<PipelineInput['sources']>, files: Record<string, string[]>) {
  const dir = tempDir();
  writeFileSync(join(dir, 'events.csv'), events.join('\n') + '\n');
  for (const [f, lines] of Object.entries(files)) writeFileSync(join(dir, f), lines.join('\n') + '\n');
  return inlinePipeline(
    {
      name: 'pit',
      sources: { events: { path: 'events.csv', columns: { user_id: 'uid', ts: 'time', event: 'type' } }, ...extra },
      label: { event: 'buy', horizon: '7d' },
      features: { windows: ['7d'] },
    },
    dir,
  );
}

async function table(conn: DuckDBConnection, def: ReturnType<typeof world>['definition'], cutoff: string) {
  const r = await buildFeatures(conn, def, { cutoff: new Date(cutoff), outDir: tempDir() });
  const rows = (await conn.runAndReadAll(`SELECT * FROM read_parquet($p) ORDER BY user_id`, { p: r.featuresPath }))
    .getRowObjects()
    .map((o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])));
  return { r, rows };
}

describe('point-in-time customer attributes', () => {
  it('need a valid-from column, or a declaration that they are static', () => {
    const def = (customers: object) =>
      parsePipeline({
        name: 'x',
        sources: { events: { path: 'e.csv', columns: { user_id: 'u', ts: 't', event: 'e' } }, customers },
        label: { event: 'buy' },
      } as PipelineInput);
    assert.throws(
      () => def({ path: 'c.csv', columns: { user_id: 'u', attributes: ['plan'] } }),
      (e: PipelineDefinitionError) =>
        e.issues.some((i) =>
          i.startsWith(
            'sources.customers.columns.validFrom: customer attributes used as features must be point-in-time',
          ),
        ),
    );
    assert.equal(
      def({ path: 'c.csv', columns: { user_id: 'u', attributes: ['plan'] }, static: true }).sources.customers?.static,
      true,
    );
    assert.ok(def({ path: 'c.csv', columns: { user_id: 'u', attributes: ['plan'], validFrom: 'since' } }));
    assert.ok(
      def({ path: 'c.csv', columns: { user_id: 'u', pii: ['email'] } }),
      'no attributes as features: nothing to date',
    );
  });

  it('are read as of the cutoff: a value recorded later never reaches the features', async () => {
    const loaded = world(
      { customers: { path: 'c.csv', columns: { user_id: 'uid', attributes: ['plan', 'seats'], validFrom: 'since' } } },
      {
        'c.csv': [
          'uid,plan,seats,since',
          'a,free,1,2024-01-01T00:00:00Z',
          'a,pro,5,2024-01-11T00:00:00Z', // upgraded after the first cutoff
          'b,pro,3,2024-01-01T00:00:00Z',
          'c,free,2,2024-01-15T00:00:00Z', // known only after the first cutoff
        ],
      },
    );
    await withDuckDB(':memory:', async (conn) => {
      const s = await extractPipeline(conn, loaded);
      assert.equal(s.sources[1].loaded, 4);
      const early = await table(conn, loaded.definition, '2024-01-10T00:00:00Z');
      assert.deepEqual(
        early.rows.map((r) => [r.user_id, r.attr_plan_pro, r.attr_plan_free, r.attr_seats]),
        [
          ['a', 0, 1, 1],
          ['b', 1, 0, 3],
          ['c', 0, 0, null], // no row valid before the cutoff: missing
        ],
      );
      assert.equal(early.r.customerAttributes, 'as-of');
      const late = await table(conn, loaded.definition, '2024-01-20T00:00:00Z');
      assert.deepEqual(
        late.rows.map((r) => [r.user_id, r.attr_plan_pro, r.attr_seats]),
        [
          ['a', 1, 5],
          ['b', 1, 3],
          ['c', 0, 2],
        ],
      );
    });
  });

  it('declared static: the same values at every cutoff, and the feature docs say so', async () => {
    const loaded = world(
      { customers: { path: 'c.csv', columns: { user_id: 'uid', attributes: ['country'] }, static: true } },
      { 'c.csv': ['uid,country', 'a,FR', 'b,DE', 'c,FR'] },
    );
    await withDuckDB(':memory:', async (conn) => {
      await extractPipeline(conn, loaded);
      const t = await table(conn, loaded.definition, '2024-01-10T00:00:00Z');
      assert.equal(t.r.customerAttributes, 'static');
      assert.deepEqual(
        t.rows.map((r) => r.attr_country_fr),
        [1, 0, 1],
      );
      assert.match(t.r.featureDocs.attr_country_fr, /static: declared never to change/);
    });
  });
});

describe('explicit labels', () => {
  it('carry a time, and only those in [T, T + horizon) count: each cutoff gets its own labels', async () => {
    const loaded = world(
      { labels: { path: 'l.csv', columns: { user_id: 'uid', ts: 'at', label: 'responded' } } },
      {
        'l.csv': [
          'uid,at,responded',
          'a,2024-01-12T00:00:00Z,yes', // in [Jan 10, Jan 17)
          'b,2024-01-21T00:00:00Z,yes', // in [Jan 20, Jan 27)
          'c,2024-01-09T00:00:00Z,yes', // before the first cutoff: never counts
        ],
      },
    );
    await withDuckDB(':memory:', async (conn) => {
      await extractPipeline(conn, loaded);
      const first = await table(conn, loaded.definition, '2024-01-10T00:00:00Z');
      const second = await table(conn, loaded.definition, '2024-01-20T00:00:00Z');
      assert.deepEqual(
        first.rows.map((r) => [r.user_id, r.label]),
        [
          ['a', 1],
          ['b', 0],
          ['c', 0],
        ],
      );
      assert.deepEqual(
        second.rows.map((r) => [r.user_id, r.label]),
        [
          ['a', 0],
          ['b', 1],
          ['c', 0],
        ],
      );
    });
  });
});

describe('labels are observed only when the data covers the horizon', () => {
  const def = parsePipeline({
    name: 'obs',
    sources: { events: { path: 'x.csv', columns: { user_id: 'u', ts: 't', event: 'e' } } },
    label: { event: 'buy', horizon: '7d' },
  });
  const labelled = (rows: [string, string, string][], cutoff: string) =>
    withDuckDB(':memory:', async (conn) => {
      await ensureWarehouseSchema(conn);
      for (const [u, t, e] of rows)
        await conn.run(
          `INSERT INTO events VALUES ($u, CAST($t AS TIMESTAMP), $e, NULL, NULL, NULL, NULL, 'test', 0, hash($u, $t, $e))`,
          { u, t, e },
        );
      return (await buildFeatures(conn, def, { cutoff: new Date(cutoff), outDir: tempDir() })).labelled;
    });

  it('data ending 12 hours short of T + horizon is not enough', async () => {
    const rows: [string, string, string][] = [
      ['a', '2024-01-05 10:00:00', 'view'],
      ['a', '2024-01-16 12:00:00', 'buy'], // T + horizon = Jan 17 00:00
    ];
    assert.equal(await labelled(rows, '2024-01-10T00:00:00Z'), false);
    assert.equal(await labelled([...rows, ['b', '2024-01-17 00:00:00', 'view']], '2024-01-10T00:00:00Z'), true);
  });

  it('a live run trains where the horizon is observed: one horizon before the end of the data when it lags the cutoff', async () => {
    await withDuckDB(':memory:', async (conn) => {
      await ensureWarehouseSchema(conn);
      for (const [u, t, e] of [
        ['a', '2024-01-02 10:00:00', 'view'],
        ['a', '2024-01-09 10:00:00', 'buy'],
        ['b', '2024-01-20 20:59:00', 'view'], // live data: the last event a few minutes before the scheduled cutoff
      ])
        await conn.run(
          `INSERT INTO events VALUES ($u, CAST($t AS TIMESTAMP), $e, NULL, NULL, NULL, NULL, 'test', 0, hash($u, $t, $e))`,
          { u, t, e },
        );
      const live = await trainingCutoffFor(conn, def, new Date('2024-01-20T21:03:00Z'));
      assert.equal(live.toISOString(), '2024-01-13T00:00:00.000Z', 'midnight before the data ends, minus the horizon');
      assert.equal((await buildFeatures(conn, def, { cutoff: live, outDir: tempDir() })).labelled, true);
      // One horizon before the cutoff itself would not be observed (the data ends 4 minutes short).
      const naive = new Date(Date.parse('2024-01-20T21:03:00Z') - 7 * 86_400_000);
      assert.equal((await buildFeatures(conn, def, { cutoff: naive, outDir: tempDir() })).labelled, false);
      const past = await trainingCutoffFor(conn, def, new Date('2024-01-12T00:00:00Z'));
      assert.equal(past.toISOString(), '2024-01-05T00:00:00.000Z', 'a past cutoff: one horizon before it');
    });
  });

  it('a source with dates only covers its last day whole', async () => {
    const rows: [string, string, string][] = [
      ['a', '2024-01-05 00:00:00', 'view'],
      ['a', '2024-01-16 00:00:00', 'buy'], // the whole of Jan 16: up to Jan 17 00:00
    ];
    assert.equal(await labelled(rows, '2024-01-10T00:00:00Z'), true);
    assert.equal(await labelled(rows, '2024-01-11T00:00:00Z'), false);
  });
});

describe('a warehouse made before side tables had times', () => {
  it('drops its untimed customers and labels and forgets their files, so the next extract reloads them with times', async () => {
    await withDuckDB(':memory:', async (conn) => {
      await conn.run(
        `CREATE TABLE customers (user_id VARCHAR PRIMARY KEY, attributes JSON, source_file VARCHAR, source_line BIGINT)`,
      );
      await conn.run(
        `CREATE TABLE labels (user_id VARCHAR PRIMARY KEY, label INTEGER NOT NULL, source_file VARCHAR, source_line BIGINT)`,
      );
      await ensureWarehouseSchema(conn);
      for (const s of ['events', 'labels', 'customers'])
        await conn.run(
          `INSERT INTO source_files (source, file, size, sha256, rows_read, loaded, duplicates, quarantined, last_line) VALUES ($s, 'f', 1, 'h', 1, 1, 0, 0, 2)`,
          { s },
        );
      // Simulate the old shape again with the files recorded, then migrate.
      await conn.run(`DROP TABLE labels`);
      await conn.run(
        `CREATE TABLE labels (user_id VARCHAR PRIMARY KEY, label INTEGER NOT NULL, source_file VARCHAR, source_line BIGINT)`,
      );
      await ensureWarehouseSchema(conn);
      const cols = (
        await conn.runAndReadAll(
          `SELECT table_name, column_name FROM duckdb_columns() WHERE table_name IN ('labels', 'customers') AND column_name IN ('ts', 'valid_from') ORDER BY 1`,
        )
      ).getRows();
      assert.deepEqual(cols, [
        ['customers', 'valid_from'],
        ['labels', 'ts'],
      ]);
      const files = (await conn.runAndReadAll(`SELECT source FROM source_files ORDER BY source`))
        .getRows()
        .map((r) => r[0]);
      assert.deepEqual(files, ['customers', 'events'], 'the labels file will load again; the timed customers stay');
    });
  });
});
