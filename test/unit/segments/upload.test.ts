/**
 * Issue 21, upload formats: Google Ads Customer Match, Meta custom audiences, Mailchimp and HubSpot files, with
 * each vendor's column names and documented normalisation (trim, lower-case, Gmail dots for Google, E.164 phones)
 * before SHA-256; rows without a usable identifier counted; plain addresses only when the pipeline allows them.
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
import type { PipelineInput } from '../../../pipelines/schema';
import { buildSegments } from '../../../segments';
import { emailSql, normaliseEmail, normalisePhone, phoneSql, sha256Hex } from '../../../segments/upload';
import { tempDir } from '../../helpers/warehouse';

// The vendors' documented examples (Google Ads API "normalize and hash user-provided data": trim, lower-case,
// no dots before @gmail.com / @googlemail.com, E.164 phones; Meta customer lists: digits with the country code, no
// "+" or leading zeros).
const EMAILS: [string, boolean, string | null][] = [
  ['  Jane.Doe@GMail.com ', true, 'janedoe@gmail.com'],
  ['jane.doe@googlemail.com', true, 'janedoe@googlemail.com'],
  ['Jane.Doe@GMail.com', false, 'jane.doe@gmail.com'],
  ['first.last@Example.COM', true, 'first.last@example.com'],
  ['not an address', true, null],
  ['', true, null],
];
const PHONES: [string, 'e164' | 'digits', string | undefined, string | null][] = [
  ['+1 (650) 253-0000', 'e164', undefined, '+16502530000'],
  ['+1 (657) 777-0000', 'digits', undefined, '16577770000'],
  ['0044 20 7183 8750', 'e164', undefined, '+442071838750'],
  ['020 7183 8750', 'e164', '44', '+442071838750'],
  ['020 7183 8750', 'digits', '44', '442071838750'],
  ['020 7183 8750', 'e164', undefined, null],
  ['+1 555', 'e164', undefined, null],
];

describe('upload normalisation', () => {
  it('follows the documented examples, hashes as the vendors do, and SQL does the same as TypeScript', async () => {
    for (const [raw, gmail, want] of EMAILS) assert.equal(normaliseEmail(raw, gmail), want, raw);
    for (const [raw, style, cc, want] of PHONES) assert.equal(normalisePhone(raw, style, cc), want, raw);
    // Lower-case hex SHA-256 of the normalised address (the vector published for "janedoe@gmail.com").
    assert.equal(
      sha256Hex(normaliseEmail(' Jane.Doe@gmail.com', true)!),
      'd6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69',
    );
    await withDuckDB(':memory:', async (conn) => {
      const q = async (sql: string, v: string) => (await conn.runAndReadAll(sql, { v })).getRows()[0][0];
      for (const [raw, gmail, want] of EMAILS) {
        assert.equal(await q(`SELECT ${emailSql('CAST($v AS VARCHAR)', gmail)}`, raw), want, raw);
        if (want)
          assert.equal(await q(`SELECT sha256(${emailSql('CAST($v AS VARCHAR)', gmail)})`, raw), sha256Hex(want));
      }
      for (const [raw, style, cc, want] of PHONES)
        assert.equal(await q(`SELECT ${phoneSql('CAST($v AS VARCHAR)', style, cc)}`, raw), want, raw);
    });
  });
});

const base: PipelineInput = {
  name: 'uploads',
  sources: {
    events: { path: 'x.csv', columns: { user_id: 'u', ts: 't', event: 'e' } },
    customers: { path: 'c.csv', static: true, columns: { user_id: 'u', attributes: [], pii: ['email', 'phone'] } },
  },
  label: { event: 'buy', horizon: '7d' },
  features: { windows: ['7d'] },
  campaigns: [{ name: 'everyone', filter: { field: 'propensity', op: 'gte', value: 0 }, action: 'mail' }],
  export: {
    allowPii: ['email'],
    uploads: {
      formats: ['google_ads', 'meta', 'mailchimp', 'hubspot'],
      email: 'email',
      phone: 'phone',
      defaultCountryCode: '44',
    },
  },
};

describe('upload files', () => {
  it('are refused when they would export plain addresses the pipeline does not allow, or read undeclared columns', () => {
    assert.throws(
      () => parsePipeline({ ...base, export: { ...base.export, allowPii: [] } }),
      /mailchimp imports plain e-mail addresses: add the e-mail column to export\.allowPii/,
    );
    assert.throws(
      () => parsePipeline({ ...base, export: { uploads: { formats: ['meta'], email: 'mail' } } }),
      /export\.uploads\.email.*"mail" is not one of sources\.customers\.columns\.pii/s,
    );
    parsePipeline({ ...base, export: { uploads: { formats: ['google_ads', 'meta'], email: 'email' } } });
  });

  it('carry each vendor column layout, normalised and hashed values, and count the rows without an identifier', async () => {
    const def = parsePipeline(base);
    await withDuckDB(':memory:', async (conn) => {
      await ensureWarehouseSchema(conn);
      const dir = tempDir();
      const contacts: [string, string | null, string | null][] = [
        ['u1', ' Jane.Doe@GMail.com ', '020 7183 8750'],
        ['u2', 'bob@example.com', null],
        ['u3', null, '+1 (650) 253-0000'],
        ['u4', 'broken', 'n/a'],
        ['u5', null, null],
      ];
      for (const [u] of contacts)
        await conn.run(
          `INSERT INTO events VALUES ($u, TIMESTAMP '2024-01-10', 'view', NULL, NULL, NULL, NULL, 'gen', 0, hash($u))`,
          { u },
        );
      for (const [u, email, phone] of contacts)
        await conn.run(`INSERT INTO customers VALUES ($u, NULL, json_object('email', $e, 'phone', $p), 'c.csv', 0)`, {
          u,
          e: email,
          p: phone,
        });
      const cutoff = new Date('2024-02-01T00:00:00Z');
      const f = await buildFeatures(conn, def, { cutoff, outDir: dir });
      const scoresPath = join(dir, 'scores.parquet');
      const ids = contacts.map((c) => c[0]);
      await writeColumnsToParquet(conn, scoresPath, [
        { name: 'user_id', type: 'VARCHAR', values: ids },
        { name: 'propensity', type: 'DOUBLE', values: ids.map((_, i) => 0.9 - i / 10) },
        { name: 'model_version', type: 'VARCHAR', values: ids.map(() => 'v1') },
      ]);
      const r = await buildSegments(conn, {
        definition: def,
        runId: 'up',
        cutoff,
        featuresPath: f.featuresPath,
        scoresPath,
        outDir: join(dir, 'out'),
        modelVersion: 'v1',
        seed: 1,
      });
      const list = r.campaigns[0];
      const files = Object.fromEntries(list.uploads.map((u) => [u.format, u]));
      const lines = (format: string) => readFileSync(files[format].path, 'utf8').trim().split('\n');
      const h = sha256Hex;
      // Ranked by propensity: u1, u2, u3, u4, u5.
      assert.deepEqual(lines('google_ads'), [
        'Email,Phone',
        `${h('janedoe@gmail.com')},${h('+442071838750')}`,
        `${h('bob@example.com')},`,
        `,${h('+16502530000')}`,
      ]);
      assert.deepEqual(lines('meta'), [
        'email,phone',
        `${h('jane.doe@gmail.com')},${h('442071838750')}`,
        `${h('bob@example.com')},`,
        `,${h('16502530000')}`,
      ]);
      assert.deepEqual(lines('mailchimp'), ['Email Address', 'jane.doe@gmail.com', 'bob@example.com']);
      assert.deepEqual(lines('hubspot'), ['Email', 'jane.doe@gmail.com', 'bob@example.com']);
      assert.deepEqual(
        list.uploads.map((u) => [u.format, u.rows, u.withoutIdentifier]),
        [
          ['google_ads', 3, 2],
          ['meta', 3, 2],
          ['mailchimp', 2, 3],
          ['hubspot', 2, 3],
        ],
      );
      const manifest = JSON.parse(readFileSync(r.manifestPath, 'utf8'));
      assert.deepEqual(
        manifest.campaigns[0].uploads.map((u: { file: string; withoutIdentifier: number }) => [
          u.file,
          u.withoutIdentifier,
        ]),
        [
          ['everyone.google_ads.csv', 2],
          ['everyone.meta.csv', 2],
          ['everyone.mailchimp.csv', 3],
          ['everyone.hubspot.csv', 3],
        ],
      );
    });
  });
  it('carry the predicted customer lifetime value where the tool has a value column (Meta, Mailchimp, HubSpot)', async () => {
    const def = parsePipeline({ ...base, clv: { horizon: '52w' } });
    await withDuckDB(':memory:', async (conn) => {
      await ensureWarehouseSchema(conn);
      const dir = tempDir();
      const contacts: [string, string | null, number | null][] = [
        ['u1', 'a@example.com', 120.456],
        ['u2', 'b@example.com', null],
        ['u3', null, 80],
      ];
      for (const [u, email] of contacts) {
        await conn.run(
          `INSERT INTO events VALUES ($u, TIMESTAMP '2024-01-10', 'view', NULL, NULL, NULL, NULL, 'gen', 0, hash($u))`,
          { u },
        );
        await conn.run(`INSERT INTO customers VALUES ($u, NULL, json_object('email', $e), 'c.csv', 0)`, {
          u,
          e: email,
        });
      }
      const cutoff = new Date('2024-02-01T00:00:00Z');
      const f = await buildFeatures(conn, def, { cutoff, outDir: dir });
      const ids = contacts.map((c) => c[0]);
      const scoresPath = join(dir, 'scores.parquet');
      await writeColumnsToParquet(conn, scoresPath, [
        { name: 'user_id', type: 'VARCHAR', values: ids },
        { name: 'propensity', type: 'DOUBLE', values: [0.9, 0.8, 0.7] },
        { name: 'model_version', type: 'VARCHAR', values: ids.map(() => 'v1') },
      ]);
      const clvPath = join(dir, 'clv.parquet');
      await writeColumnsToParquet(conn, clvPath, [
        { name: 'user_id', type: 'VARCHAR', values: ids },
        { name: 'clv', type: 'DOUBLE', values: contacts.map((c) => c[2] ?? NaN) },
        { name: 'p_alive', type: 'DOUBLE', values: [0.9, 0.5, 0.8] },
        { name: 'expected_purchases', type: 'DOUBLE', values: [2, 1, 1] },
      ]);
      const r = await buildSegments(conn, {
        definition: def,
        runId: 'up',
        cutoff,
        featuresPath: f.featuresPath,
        scoresPath,
        clvPath,
        outDir: join(dir, 'out'),
        modelVersion: 'v1',
        seed: 1,
      });
      const files = Object.fromEntries(r.campaigns[0].uploads.map((u) => [u.format, u.path]));
      const lines = (format: string) => readFileSync(files[format], 'utf8').trim().split('\n');
      assert.deepEqual(lines('google_ads'), [
        'Email,Phone',
        `${sha256Hex('a@example.com')},`,
        `${sha256Hex('b@example.com')},`,
      ]);
      assert.deepEqual(lines('meta'), [
        'email,phone,value',
        `${sha256Hex('a@example.com')},,120.46`,
        `${sha256Hex('b@example.com')},,`,
      ]);
      assert.deepEqual(lines('mailchimp'), ['Email Address,CLV', 'a@example.com,120.46', 'b@example.com,']);
      assert.deepEqual(lines('hubspot'), ['Email,Customer lifetime value', 'a@example.com,120.46', 'b@example.com,']);
      // u3 has a value but no e-mail: counted as without an identifier, not uploaded for its value alone.
      assert.deepEqual(
        r.campaigns[0].uploads.map((u) => u.withoutIdentifier),
        [1, 1, 1, 1],
      );
    });
  });
});
