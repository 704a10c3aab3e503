/**
 * Issue 18's hostile input that needs more than one file or step (the single-file cases are the bad-input corpus,
 * test/fixtures/bad): files overwritten in place, truncated gzip followed by the complete file, rows appended to a
 * line without its newline, rows that used to break a later step, and quarantine records kept whole.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parsePipeline, PipelineDefinitionError } from '../../../pipelines/load';
import { withDuckDB } from '../../../warehouse/db';
import { extractPipeline } from '../../../warehouse/extract';
import { buildFeatures } from '../../../warehouse/features';
import { inlinePipeline, scalar, tempDir } from '../../helpers/warehouse';

const header = 'uid,time,type,amount';
const rows = (from: number, to: number, prefix = 'u') =>
  Array.from(
    { length: to - from + 1 },
    (_, i) => `${prefix}${from + i},2024-01-0${((from + i) % 9) + 1}T10:00:00Z,view,`,
  );
const pipeline = (dir: string, path = 'events.csv', extra: Record<string, unknown> = {}) =>
  inlinePipeline(
    {
      name: 'hostile',
      sources: {
        events: { path, columns: { user_id: 'uid', ts: 'time', event: 'type', revenue: 'amount' }, ...extra },
      },
      label: { event: 'view', horizon: '7d' },
      features: { windows: ['7d'] },
    },
    dir,
  );

describe('hostile input across loads', () => {
  it('a source file overwritten in place is refused with a clear message, never skipped', async () => {
    const dir = tempDir();
    const file = join(dir, 'events.csv');
    writeFileSync(file, [header, ...rows(1, 100)].join('\n') + '\n');
    await withDuckDB(join(dir, 'w.duckdb'), async (conn) => {
      assert.equal((await extractPipeline(conn, pipeline(dir))).sources[0].loaded, 100);
      appendFileSync(file, rows(101, 150).join('\n') + '\n');
      const grown = (await extractPipeline(conn, pipeline(dir))).sources[0];
      assert.deepEqual([grown.read, grown.loaded], [50, 50], 'a true append loads the new rows only');
      writeFileSync(file, [header, ...rows(1, 150, 'x')].join('\n') + '\n');
      await assert.rejects(
        extractPipeline(conn, pipeline(dir)),
        (e: Error) =>
          e.name === 'InputError' &&
          e.message.startsWith(`${file} changed in place since it was loaded`) &&
          e.message.includes('never rewritten'),
      );
      assert.equal(await scalar(conn, `SELECT count(*) FROM events`), 150, 'nothing of the new content loaded');
      assert.equal(await scalar(conn, `SELECT count(*) FROM events WHERE user_id LIKE 'x%'`), 0);
      // Restored and appended to, it loads again.
      writeFileSync(file, [header, ...rows(1, 150), ...rows(151, 160)].join('\n') + '\n');
      const restored = (await extractPipeline(conn, pipeline(dir))).sources[0];
      assert.deepEqual([restored.read, restored.loaded], [10, 10]);
    });
  });

  it('a row appended to a last line that had no newline changes a loaded row: refused; after a newline it loads', async () => {
    const dir = tempDir();
    const file = join(dir, 'events.csv');
    writeFileSync(file, [header, ...rows(1, 3)].join('\n'));
    await withDuckDB(join(dir, 'w.duckdb'), async (conn) => {
      assert.equal(
        (await extractPipeline(conn, pipeline(dir))).sources[0].loaded,
        3,
        'the last line without newline loads',
      );
      appendFileSync(file, '\n' + rows(4, 5).join('\n') + '\n');
      assert.equal((await extractPipeline(conn, pipeline(dir))).sources[0].loaded, 2);
      writeFileSync(file, [header, ...rows(1, 5)].join('\n') + '\n' + 'u6,2024-01-01T10:00:00Z,view,');
      assert.equal((await extractPipeline(conn, pipeline(dir))).sources[0].loaded, 1);
      appendFileSync(file, '5'); // u6's revenue: a loaded row changed
      await assert.rejects(extractPipeline(conn, pipeline(dir)), /changed in place/);
    });
  });

  it('a truncated gzip loads nothing; the complete file then loads every row, the one cut mid-line too', async () => {
    const dir = tempDir();
    const whole = gzipSync([header, ...rows(1, 2000)].join('\n') + '\n');
    writeFileSync(join(dir, 'events.csv.gz'), whole.subarray(0, Math.floor(whole.length / 2)));
    await withDuckDB(join(dir, 'w.duckdb'), async (conn) => {
      await assert.rejects(
        extractPipeline(conn, pipeline(dir, 'events.csv.gz')),
        (e: Error) => e.name === 'InputError' && e.message.includes('events.csv.gz is a truncated or corrupt gzip'),
      );
      assert.equal(await scalar(conn, `SELECT count(*) FROM events`), 0);
      assert.equal(await scalar(conn, `SELECT count(*) FROM source_files`), 0);
      writeFileSync(join(dir, 'events.csv.gz'), whole);
      const s = (await extractPipeline(conn, pipeline(dir, 'events.csv.gz'))).sources[0];
      assert.deepEqual([s.read, s.loaded, s.quarantined], [2000, 2000, 0]);
    });
  });

  it('rows that broke later steps (year -0001, control characters) are quarantined at extract; features then build', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'events.csv'),
      [
        header,
        'a,2024-01-02T10:00:00Z,view,',
        'a,-0001-01-02T10:00:00Z,view,',
        'b,2024-01-03T10:00:00Z,buy,5',
        'b,2024-01-03T11:00:00Z,vi\u0001ew,',
        'c,2024-01-04T10:00:00Z,view,',
        'c,2024-01-20T10:00:00Z,buy,5',
      ].join('\n') + '\n',
    );
    const loaded = pipeline(dir);
    await withDuckDB(join(dir, 'w.duckdb'), async (conn) => {
      const s = (await extractPipeline(conn, loaded)).sources[0];
      assert.deepEqual(s.quarantineReasons, { 'timestamp before 1900': 1, 'control character in event type': 1 });
      const r = await buildFeatures(conn, loaded.definition, {
        cutoff: new Date('2024-01-10T00:00:00Z'),
        outDir: tempDir(),
      });
      assert.ok(r.featuresPath);
    });
  });

  it('epoch milliseconds alone in a file still load in auto mode; quarantine.raw keeps empty fields', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'events.csv'), `${header}\nu1,1704190000000,view,\nu2,1704190001000,,\n`);
    await withDuckDB(':memory:', async (conn) => {
      const s = await extractPipeline(conn, pipeline(dir));
      assert.equal(s.minTs, '2024-01-02T10:06:40.000Z');
      const raw = (await conn.runAndReadAll(`SELECT raw FROM quarantine`)).getRows().map((x) => x[0]);
      assert.deepEqual(raw, ['u2,1704190001000,,']);
    });
  });

  it('a 10 MB NDJSON line and a line that is not an object are quarantined; the rest loads', async () => {
    const dir = tempDir();
    const line = (uid: string, type: string) =>
      JSON.stringify({ uid, time: '2024-01-02T10:00:00Z', type, amount: null });
    writeFileSync(
      join(dir, 'events.ndjson'),
      [line('a', 'view'), line('b', 'x'.repeat(10_000_000)), '[1, 2]', line('c', 'view')].join('\n') + '\n',
    );
    await withDuckDB(':memory:', async (conn) => {
      const s = (await extractPipeline(conn, pipeline(dir, 'events.ndjson'))).sources[0];
      assert.deepEqual([s.read, s.loaded, s.quarantined], [4, 2, 2]);
      const q = (await conn.runAndReadAll(`SELECT line, reason FROM quarantine ORDER BY line`)).getRows();
      assert.deepEqual(
        q.map((r) => [Number(r[0]), String(r[1])]),
        [
          [2, 'malformed JSON line: longer than 1000000 characters'],
          [3, 'malformed JSON line: not an object'],
        ],
      );
    });
  });

  it('a delimiter longer than 4 bytes is refused by the definition schema', () => {
    assert.throws(
      () =>
        parsePipeline({
          name: 'x',
          sources: { events: { path: 'e.csv', delimiter: ',,,,,', columns: { user_id: 'u', ts: 't', event: 'e' } } },
          label: { event: 'buy' },
        }),
      (e: PipelineDefinitionError) => e.issues.some((i) => i.startsWith('sources.events.delimiter')),
    );
  });
});
