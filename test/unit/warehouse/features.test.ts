import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { withDuckDB } from '../../../warehouse/db';
import { extractPipeline } from '../../../warehouse/extract';
import { buildFeatures, columnSafe, defaultCutoff } from '../../../warehouse/features';
import { ensureWarehouseSchema } from '../../../warehouse/schema';
import { loadPipeline, parsePipeline } from '../../../pipelines/load';
import { projectRoot } from '../../../infra/root';
import { tempDir } from '../../helpers/warehouse';
import { readSequences } from '../../../ml/lstm';

const shared = join(projectRoot(), '..', 'shared', 'datasets');
const noShared = !existsSync(shared) && `../shared/datasets is absent (${shared})`;

const def = parsePipeline({
  name: 'pit',
  sources: { events: { path: 'x.csv', columns: { user_id: 'u', ts: 't', event: 'e' } } },
  label: { event: 'buy', horizon: '7d' },
  features: { windows: ['1d', '7d'], funnel: ['view', 'cart', 'buy'], sequenceLength: 4 },
});

async function insert(
  conn: import('@duckdb/node-api').DuckDBConnection,
  rows: [string, string, string, number | null][],
) {
  for (const [u, t, e, r] of rows) {
    await conn.run(
      `INSERT INTO events VALUES ($u, CAST($t AS TIMESTAMP), $e, NULL, $r, NULL, NULL, 'test', 0, hash($u, $t, $e))`,
      { u, t, e, r: r ?? null } as never,
    );
  }
}

const base: [string, string, string, number | null][] = [
  ['a', '2024-01-01 10:00:00', 'view', null],
  ['a', '2024-01-05 10:00:00', 'cart', null],
  ['a', '2024-01-05 10:05:00', 'buy', 20],
  ['a', '2024-01-09 09:00:00', 'buy', 30],
  ['b', '2024-01-09 12:00:00', 'view', null],
  ['c', '2024-01-02 08:00:00', 'view', null],
];
const cutoff = new Date('2024-01-10T00:00:00Z');

async function features(extra: [string, string, string, number | null][]) {
  return withDuckDB(':memory:', async (conn) => {
    await ensureWarehouseSchema(conn);
    await insert(conn, [...base, ...extra]);
    const out = tempDir();
    const r = await buildFeatures(conn, def, { cutoff, outDir: out });
    const rows = (
      await conn.runAndReadAll(`SELECT * FROM read_parquet('${r.featuresPath}') ORDER BY user_id`)
    ).getRowObjects();
    const seqs = (
      await conn.runAndReadAll(
        `SELECT user_id, tokens, length FROM read_parquet('${r.sequencesPath}') ORDER BY user_id`,
      )
    ).getRowObjects();
    return { r, rows, seqs, vocab: JSON.parse(readFileSync(r.vocabPath, 'utf8')) as Record<string, number> };
  });
}

describe('point-in-time features', () => {
  it('computes RFM, windows, funnel stage and labels from the right side of the cutoff', async () => {
    const { r, rows } = await features([
      ['b', '2024-01-12 10:00:00', 'buy', 5],
      ['c', '2024-01-20 10:00:00', 'view', null],
    ]);
    const a = rows.find((x) => x.user_id === 'a')!;
    const b = rows.find((x) => x.user_id === 'b')!;
    assert.equal(a.rfm_frequency, 1); // purchase days Jan 5 and Jan 9
    assert.equal(a.rfm_recency, 4);
    assert.equal(a.rfm_t, 4); // Jan 5 → Jan 9 (the last day before the cutoff)
    assert.equal(a.rfm_monetary, 30);
    assert.equal(a.n_buy_1d, 1);
    assert.equal(a.n_view_7d, 0);
    assert.equal(a.funnel_stage, 3);
    assert.equal(b.funnel_stage, 1);
    // The DISTINCT counts come from a GROUP BY of their own (feature-columns.ts): same values, same column places.
    assert.deepEqual(
      rows.map((x) => [x.user_id, x.active_days, x.distinct_items]),
      [
        ['a', 3, 0], // Jan 1, 5 and 9; no item ids
        ['b', 1, 0],
        ['c', 1, 0],
      ],
    );
    const at = (name: string) => r.featureNames.indexOf(name);
    assert.equal(at('distinct_items'), at('revenue_total') + 1);
    assert.equal(at('active_days'), at('events_per_session') + 1);
    assert.equal(a.label, 0);
    assert.equal(b.label, 1, 'b buys 2 days after the cutoff, within the 7-day horizon');
    assert.equal(r.users, 3);
    assert.deepEqual(
      r.funnel.map((f) => f.users),
      [3, 1, 1],
    );
    assert.ok(
      r.featureNames.every((n) => r.featureDocs[n]),
      'every feature is documented',
    );
  });

  it('labels churn for the customers at the cutoff only: no activity in the horizon after it', async () => {
    const churnDef = parsePipeline({
      ...def,
      churn: { within: '30d' },
    });
    const r = await withDuckDB(':memory:', async (conn) => {
      await ensureWarehouseSchema(conn);
      await insert(conn, [
        ...base,
        ['e', '2024-01-08 10:00:00', 'buy', 10], // customer, active after the cutoff → stays
        ['e', '2024-01-13 10:00:00', 'view', null],
        ['f', '2023-11-01 10:00:00', 'buy', 10], // bought 70 days before: not a customer within 30 days
        ['f', '2024-01-09 10:00:00', 'view', null],
        ['c', '2024-01-25 10:00:00', 'view', null], // never bought: not a customer
      ]);
      const built = await buildFeatures(conn, churnDef, { cutoff, outDir: tempDir() });
      const rows = (
        await conn.runAndReadAll(`SELECT user_id, label FROM read_parquet($p) ORDER BY user_id`, {
          p: built.churn!.featuresPath,
        })
      ).getRows();
      return { built, rows };
    });
    // a bought on Jan 9 and does nothing in [Jan 10, Jan 17): churned; e was active on Jan 13.
    assert.deepEqual(r.rows, [
      ['a', 1],
      ['e', 0],
    ]);
    assert.deepEqual([r.built.churn!.users, r.built.churn!.positives], [2, 1]);
    const noChurn = await features([]);
    assert.equal(noChurn.r.churn, null, 'no churn table when the pipeline defines no churn');
  });

  it('no feature changes when events at or after the cutoff are added or removed', async () => {
    const without = await features([]);
    const withFuture = await features([
      ['a', '2024-01-10 00:00:00', 'buy', 99], // exactly at the cutoff: future
      ['c', '2024-02-01 10:00:00', 'view', null],
      ['d', '2024-01-11 10:00:00', 'view', null], // a user who only appears after the cutoff
    ]);
    const strip = (rows: Record<string, unknown>[]) => rows.map(({ label: _label, ...rest }) => rest);
    assert.deepEqual(strip(withFuture.rows), strip(without.rows));
    assert.deepEqual(withFuture.seqs, without.seqs);
    assert.equal(
      withFuture.rows.find((x) => x.user_id === 'a')!.label,
      1,
      'but the label sees the purchase at the cutoff',
    );
  });

  it('writes the last N events per user with a sorted vocabulary; the reader left-pads them', async () => {
    const { r, seqs, vocab } = await features([]);
    assert.deepEqual(vocab, { buy: 1, cart: 2, view: 3 });
    const a = seqs.find((x) => x.user_id === 'a')! as { tokens: { items: number[] }; length: number };
    assert.deepEqual(a.tokens.items, [3, 2, 1, 1]);
    const c = seqs.find((x) => x.user_id === 'c')! as { tokens: { items: number[] }; length: number };
    assert.deepEqual(c.tokens.items, [3], 'stored ragged: only real events');
    assert.equal(c.length, 1);
    const read = await withDuckDB(':memory:', (c) => readSequences(c, r.sequencesPath));
    assert.equal(read.length, 4);
    const ci = read.ids.indexOf('c');
    assert.deepEqual([...read.tokens.subarray(ci * 4, ci * 4 + 4)], [0, 0, 0, 3]);
    const ai = read.ids.indexOf('a');
    assert.deepEqual([...read.tokens.subarray(ai * 4, ai * 4 + 4)], [3, 2, 1, 1]);
  });

  it('writes no sequence table when asked not to (no model of the run reads it), and the same features', async () => {
    const both = await features([]);
    const without = await withDuckDB(':memory:', async (conn) => {
      await ensureWarehouseSchema(conn);
      await insert(conn, base);
      const out = tempDir();
      const r = await buildFeatures(conn, def, { cutoff, outDir: out, sequences: false });
      assert.equal(existsSync(join(out, 'sequences.parquet')), false, 'sequences.parquet was written anyway');
      assert.equal(r.sequencesPath, '');
      return (
        await conn.runAndReadAll(`SELECT * FROM read_parquet('${r.featuresPath}') ORDER BY user_id`)
      ).getRowObjects();
    });
    assert.deepEqual(without, both.rows);
  });

  it('names columns safely', () => {
    assert.equal(columnSafe('Add To-Cart!'), 'add_to_cart');
    assert.equal(columnSafe('---'), 'x');
  });

  it(
    'CDNOW: RFM at 1997-09-30 match the lifetimes/BTYD reference for all 2,357 customers',
    { skip: noShared },
    async () => {
      const loaded = loadPipeline('cdnow');
      await withDuckDB(':memory:', async (conn) => {
        await extractPipeline(conn, loaded);
        // The pipeline runs as live after the data ends; it trains (and lifetimes calibrates) at 1997-10-01.
        assert.equal((await defaultCutoff(conn, loaded.definition)).toISOString(), '1998-07-01T00:00:00.000Z');
        const r = await buildFeatures(conn, loaded.definition, {
          cutoff: new Date('1997-10-01T00:00:00Z'),
          outDir: tempDir(),
        });
        const refFile = join(shared, 'cdnow', 'cdnow_customers_summary_with_transactions.csv');
        const rows = (
          await conn.runAndReadAll(
            `SELECT ref.ID, ref.x, ref.t_x, ref.T, ref.zbar, f.rfm_frequency, f.rfm_recency, f.rfm_t, f.rfm_monetary
           FROM read_csv('${refFile}') ref LEFT JOIN read_parquet('${r.featuresPath}') f ON f.user_id = CAST(ref.ID AS VARCHAR)`,
          )
        ).getRows();
        assert.equal(rows.length, 2357);
        let bad = 0;
        for (const [id, x, tx, T, zbar, f, rec, t, m] of rows.map((row) => row.map(Number))) {
          // The reference is rounded to two decimals: ours must be within half a unit of the last digit.
          const ok = [
            [f, x],
            [rec, tx],
            [t, T],
            [m, zbar],
          ].every(([a, b]) => Math.abs(a - b) <= 0.005 + 1e-9);
          if (!ok) {
            bad++;
            if (bad < 4) console.error('mismatch', { id, x, tx, T, zbar, f, rec, t, m });
          }
        }
        assert.equal(bad, 0);
      });
    },
  );
});

describe('labels need a passed horizon', () => {
  it('leaves the label empty when the data ends inside the horizon', async () => {
    const r = await withDuckDB(':memory:', async (conn) => {
      await ensureWarehouseSchema(conn);
      await insert(conn, base);
      return buildFeatures(conn, def, { cutoff, outDir: tempDir() });
    });
    assert.equal(r.labelled, false);
    assert.equal(r.labelRate, null);
  });
});
