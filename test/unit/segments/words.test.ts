/**
 * Issue 21, plain words: every feature the features SQL can produce (and every LSTM reason) has a phrase with its
 * value, the SQL rendering equals the TypeScript one, and the exported lists read for a person: readable headers,
 * percentages, reasons as phrases, decile 1 = top 10 %, a README and a manifest that say what the list means.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { withDuckDB } from '../../../warehouse/db';
import { ensureWarehouseSchema } from '../../../warehouse/schema';
import { buildFeatures } from '../../../warehouse/features';
import { writeColumnsToParquet } from '../../../warehouse/parquet';
import { parsePipeline } from '../../../pipelines/load';
import { buildSegments } from '../../../segments';
import { featurePhrase, phraseSql, phraseText, reasonValueColumn } from '../../../segments/dictionary';
import { RFM_SEGMENTS } from '../../../segments/rfm';
import { mulberry32 } from '../../../ml/random';
import { tempDir } from '../../helpers/warehouse';

const def = parsePipeline({
  name: 'words',
  sources: {
    events: { path: 'x.csv', columns: { user_id: 'u', ts: 't', event: 'e' } },
    customers: { path: 'c.csv', static: true, columns: { user_id: 'u', attributes: ['plan', 'age'] } },
  },
  label: { event: 'transaction', horizon: '30d' },
  features: { windows: ['1d', '7d', '30d'], funnel: ['view', 'addtocart', 'transaction'], rfmUnit: 'weeks' },
  campaigns: [
    { name: 'top', description: 'The two best deciles', filter: { field: 'propensity_decile', op: 'lte', value: 2 } },
  ],
  export: { segmentLists: ['rfm', 'cluster'] },
  segments: { deciles: '1-is-top' },
});

async function world(conn: DuckDBConnection, dir: string) {
  await ensureWarehouseSchema(conn);
  const rng = mulberry32(21);
  const events = ['view', 'addtocart', 'transaction', 'newsletter_click'];
  await conn.run(`CREATE TEMP TABLE gen (u VARCHAR, t TIMESTAMP, e VARCHAR, r DOUBLE)`);
  const app = await conn.createAppender('gen');
  for (let u = 0; u < 150; u++)
    for (let k = 0, n = 1 + Math.floor(rng() * 15); k < n; k++) {
      const e = events[Math.floor(rng() * rng() * events.length)];
      app.appendVarchar(`u${u}`);
      app.appendVarchar(new Date(Date.UTC(2024, 0, 1 + Math.floor(rng() * 60), Math.floor(rng() * 24))).toISOString());
      app.appendVarchar(e);
      app.appendDouble(e === 'transaction' ? 5 + Math.floor(rng() * 200) : 0);
      app.endRow();
    }
  app.closeSync();
  await conn.run(
    `INSERT INTO events SELECT u, t, e, NULL, CASE WHEN e = 'transaction' THEN r END, NULL, NULL, 'gen', 0, hash(u, t, e) FROM gen`,
  );
  await conn.run(
    `INSERT INTO customers SELECT DISTINCT u, NULL, json_object('plan', CASE WHEN hash(u) % 3 = 0 THEN 'pro' ELSE 'free' END, 'age', 20 + hash(u) % 50), 'c.csv', 0 FROM gen`,
  );
  const cutoff = new Date('2024-03-01T00:00:00Z');
  const f = await buildFeatures(conn, def, { cutoff, outDir: dir });
  return { cutoff, f };
}

describe('the feature dictionary', () => {
  it('has a phrase for every feature the features SQL produces and every LSTM reason, and SQL renders it as TypeScript does', async () => {
    await withDuckDB(':memory:', async (conn) => {
      const { f } = await world(conn, tempDir());
      const seq = [
        'seq_revenue',
        ...f.featureNames.filter((n) => /^n_.+_total$/.test(n)).map((n) => `seq_${n.slice(2, -6)}`),
      ];
      const names = [...f.featureNames, ...seq];
      assert.ok(names.some((n) => n.startsWith('attr_plan_')) && names.includes('attr_age'));
      assert.ok(names.includes('n_newsletter_click_7d') && names.includes('ratio_addtocart_per_view'));
      const missing = names.filter((n) => !featurePhrase(n, def));
      assert.deepEqual(missing, [], 'features without a phrase');
      // The SQL rendering (used in the exports) equals the TypeScript one (report, docs) on real feature values.
      const values = [0, 0.3, 0.5, 1, 1.5, 2, 2.45, 3, 44.6, 59.6, 61, 400, 731, 1234.567];
      for (const name of names) {
        const p = featurePhrase(name, def)!;
        const sql = values.map((v) => phraseSql(p, `${v}::DOUBLE`, { tenure: '100.0', stages: def.features.funnel }));
        const got = (await conn.runAndReadAll(`SELECT ${sql.join(', ')}`)).getRows()[0].map(String);
        const want = values.map((v) => phraseText(p, v, { tenureDays: 100, stages: def.features.funnel }));
        assert.deepEqual(got, want, name);
        for (const text of want) assert.ok(!text.includes(name) && !/_/.test(text.replace(/"[^"]*"/g, '')), text);
        assert.ok(f.featureNames.includes(reasonValueColumn(name)), `${name} reads its value from a feature`);
      }
    });
  });

  it('reads as the issue asks', () => {
    const say = (name: string, v: number, tenureDays?: number) =>
      phraseText(featurePhrase(name, def)!, v, { tenureDays, stages: def.features.funnel });
    assert.equal(say('n_addtocart_7d', 3), 'added to cart 3 times in the last 7 days');
    assert.equal(say('n_addtocart_1d', 1), 'added to cart 1 time in the last day');
    assert.equal(say('days_since_last_transaction', 45.2, 300), 'last purchase 45 days ago');
    assert.equal(say('days_since_last_transaction', 301, 300), 'never purchased');
    assert.equal(say('tenure_days', 731), 'customer for 2.0 years');
    assert.equal(say('rfm_t', 5), 'first purchase 35 days before the cutoff', 'weeks are written in days');
    assert.equal(say('share_weekend', 0.456), '46% of activity at weekends');
    assert.equal(say('revenue_total', 1234.5), 'spent 1,234.50 in total');
    assert.equal(say('funnel_stage', 2), 'got as far as "addtocart" in the funnel');
    assert.equal(say('attr_plan_pro', 1), 'plan is pro');
    assert.equal(say('seq_addtocart', 4), 'recent add to carts (4 in total)');
    assert.equal(featurePhrase('no_such_feature', def), null);
  });
});

describe('lists a marketer can read', () => {
  it('have readable headers, percentages, reasons in words, decile 1 = top, a README and a manifest that explain them', async () => {
    await withDuckDB(':memory:', async (conn) => {
      const dir = tempDir();
      const { cutoff, f } = await world(conn, dir);
      const ids = (await conn.runAndReadAll(`SELECT user_id FROM read_parquet('${f.featuresPath}') ORDER BY 1`))
        .getRows()
        .map((r) => String(r[0]));
      const scoresPath = join(dir, 'scores.parquet');
      const reasonsPath = join(dir, 'reasons.parquet');
      await writeColumnsToParquet(conn, scoresPath, [
        { name: 'user_id', type: 'VARCHAR', values: ids },
        { name: 'propensity', type: 'DOUBLE', values: ids.map((_, i) => ((i * 37) % 101) / 1000) },
        { name: 'model_version', type: 'VARCHAR', values: ids.map(() => 'v0007') },
      ]);
      const reasonNames = ['n_addtocart_7d', 'days_since_last_transaction', 'seq_view', 'attr_plan_pro'];
      await writeColumnsToParquet(conn, reasonsPath, [
        { name: 'user_id', type: 'VARCHAR', values: ids },
        ...[1, 2, 3].map((k) => ({
          name: `reason_${k}`,
          type: 'VARCHAR' as const,
          values: ids.map((_, i) => (k === 3 && i % 2 ? '' : reasonNames[(i + k) % reasonNames.length])),
        })),
      ]);
      const r = await buildSegments(conn, {
        definition: def,
        runId: 'words-1',
        cutoff,
        featuresPath: f.featuresPath,
        scoresPath,
        reasonsPath,
        outDir: join(dir, 'out'),
        modelVersion: 'v0007',
        seed: 1,
      });
      const top = r.campaigns.find((c) => c.name === 'top')!;
      const csv = (
        await conn.runAndReadAll(`SELECT * FROM read_csv('${top.csvPath}', all_varchar = true)`)
      ).getRowObjects();
      const headers = Object.keys(csv[0]);
      assert.deepEqual(headers.slice(0, 3), ['User ID', 'Chance of a purchase within 30d (%)', 'RFM segment']);
      assert.ok(headers.includes('Propensity decile (1 = top 10%)') && headers.includes('Reason 1'));
      assert.ok(!headers.some((h) => /^[a-z]+_[a-z_0-9]+$/.test(h)), `no snake_case header: ${headers}`);
      // Percentages with one decimal (the scores are 0.000 … 0.100).
      const pct = csv.map((c) => String(c['Chance of a purchase within 30d (%)']));
      assert.ok(
        pct.every((p) => /^\d+(\.\d{1,2})?$/.test(p) && Number(p) <= 10),
        pct.join(' '),
      );
      // Reasons are phrases with the user's own value, never raw names.
      const reasons = csv.flatMap((c) => [c['Reason 1'], c['Reason 2'], c['Reason 3']]).filter(Boolean) as string[];
      assert.ok(reasons.length > csv.length);
      for (const text of reasons) assert.ok(!reasonNames.includes(text) && !text.includes('_'), text);
      assert.ok(reasons.some((t) => /^added to cart \d+ times? in the last 7 days$/.test(t)));
      assert.ok(reasons.some((t) => /^(last purchase .+ ago|never purchased)$/.test(t)));
      // The Parquet keeps machine names; decile 1 holds the highest scores.
      const d = (
        await conn.runAndReadAll(
          `SELECT propensity_decile, min(propensity), max(propensity) FROM read_parquet('${r.segmentsPath}') GROUP BY 1 ORDER BY 1`,
        )
      ).getRows();
      assert.equal(Number(d[0][0]), 1);
      for (let i = 1; i < d.length; i++) assert.ok(Number(d[i - 1][1]) >= Number(d[i][2]), 'decile 1 = top');
      const pq = (
        await conn.runAndReadAll(`SELECT reason_1, propensity_decile FROM read_parquet('${top.parquetPath}')`)
      ).getRows();
      assert.ok(pq.every(([name, dec]) => reasonNames.includes(String(name)) && Number(dec) <= 2));
      // What the list means: README next to the CSV, the manifest, the same words.
      const readme = readFileSync(top.readmePath, 'utf8');
      for (const s of [
        'The two best deciles',
        'What to do: review',
        'v0007',
        '2024-03-01 and 2024-03-31',
        'baseline',
        'not the campaign',
        'decile 1 = the top 10 %',
      ])
        assert.ok(readme.includes(s), `README says ${s}:\n${readme}`);
      const manifest = JSON.parse(readFileSync(r.manifestPath, 'utf8'));
      const m = manifest.campaigns.find((c: { name: string }) => c.name === 'top');
      assert.equal(m.description, 'The two best deciles');
      assert.deepEqual(m.expectedConversionsMeaning.window, {
        from: '2024-03-01T00:00:00.000Z',
        to: '2024-03-31T00:00:00.000Z',
        horizon: '30d',
      });
      assert.equal(m.expectedConversionsMeaning.kind, 'baseline');
      assert.match(manifest.conventions.propensityDecile, /decile 1 = the top 10 %/);
      // A list per RFM segment (and per cluster) without a campaign: together they hold every user once.
      const rfm = r.campaigns.filter((c) => c.kind === 'rfm_segment');
      assert.equal(rfm.length, RFM_SEGMENTS.length);
      for (const c of rfm) {
        const seg = RFM_SEGMENTS.find((s) => c.meaning.description.includes(`"${s}"`))!;
        assert.equal(c.rows, r.segmentSizes.rfm[seg], c.name);
        assert.ok(existsSync(c.csvPath) && existsSync(c.readmePath) && c.action.length > 5);
      }
      assert.equal(
        rfm.reduce((a, c) => a + c.rows, 0),
        ids.length,
      );
      const clusters = r.campaigns.filter((c) => c.kind === 'cluster');
      assert.equal(
        clusters.reduce((a, c) => a + c.rows, 0),
        ids.length,
      );
      // Clusters are described in words, not z-scores.
      for (const c of r.clusters.descriptions) assert.ok(c.inWords.length > 0 && !/[_\d]/.test(c.inWords), c.inWords);
    });
  });
});

describe('RFM recency among buyers', () => {
  it('ranks R among purchasers, so a recent buyer is never "Lost" because many non-buyers browsed more recently', async () => {
    await withDuckDB(':memory:', async (conn) => {
      await ensureWarehouseSchema(conn);
      const dir = tempDir();
      // 20 buyers whose last purchase is 20–39 days before the cutoff; 80 browsers active in the last 10 days.
      await conn.run(
        `INSERT INTO events
         SELECT 'b' || i, TIMESTAMP '2024-03-01' - to_days(20 + i), 'transaction', NULL, 10 + i, NULL, NULL, 'gen', i, hash(i) FROM range(20) t(i)
         UNION ALL
         SELECT 'v' || i, TIMESTAMP '2024-03-01' - to_days(1 + i % 10), 'view', NULL, NULL, NULL, NULL, 'gen', 100 + i, hash(100 + i) FROM range(80) t(i)`,
      );
      const cutoff = new Date('2024-03-01T00:00:00Z');
      const f = await buildFeatures(conn, def, { cutoff, outDir: dir });
      const ids = (await conn.runAndReadAll(`SELECT user_id FROM read_parquet('${f.featuresPath}') ORDER BY 1`))
        .getRows()
        .map((r) => String(r[0]));
      const scoresPath = join(dir, 'scores.parquet');
      await writeColumnsToParquet(conn, scoresPath, [
        { name: 'user_id', type: 'VARCHAR', values: ids },
        { name: 'propensity', type: 'DOUBLE', values: ids.map((_, i) => i / ids.length) },
        { name: 'model_version', type: 'VARCHAR', values: ids.map(() => 'v1') },
      ]);
      const r = await buildSegments(conn, {
        definition: { ...def, export: { ...def.export, segmentLists: [] } },
        runId: 'rfm',
        cutoff,
        featuresPath: f.featuresPath,
        scoresPath,
        outDir: join(dir, 'out'),
        modelVersion: 'v1',
        seed: 1,
      });
      const rows = (
        await conn.runAndReadAll(
          `SELECT user_id, rfm_r, rfm_segment FROM read_parquet('${r.segmentsPath}') WHERE user_id LIKE 'b%' ORDER BY recency_days`,
        )
      ).getRows();
      // The four most recent buyers are the top recency quintile among buyers: R = 5, whatever the browsers did.
      assert.deepEqual(
        rows.slice(0, 4).map((x) => Number(x[1])),
        [5, 5, 5, 5],
      );
      assert.deepEqual(
        rows.map((x) => Number(x[1])),
        [5, 5, 5, 5, 4, 4, 4, 4, 3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1],
      );
    });
  });
});

describe('campaign filters on RFM segment names', () => {
  it('refuse a name the RFM map does not have, which would select nobody', () => {
    const withFilter = (value: string[]) =>
      parsePipeline({
        name: 'rfm_names',
        sources: { events: { path: 'x.csv', columns: { user_id: 'u', ts: 't', event: 'e' } } },
        label: { event: 'buy', horizon: '7d' },
        campaigns: [{ name: 'best', filter: { not: { field: 'rfm_segment', op: 'in', value } } }],
      });
    assert.throws(
      () => withFilter(['Champion', 'Lost']),
      /campaign "best": "Champion" is not an RFM segment \(Champions, Loyal Customers/,
    );
    assert.equal(withFilter(['Champions', "Can't Lose Them"]).campaigns.length, 1);
  });
});
