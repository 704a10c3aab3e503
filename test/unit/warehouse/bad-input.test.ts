/** The bad-input corpus (test/fixtures/bad/, expected outcomes in expected.json): each file either fails with an
 * error naming the file (and column), or is quarantined with every row accounted for. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withDuckDB } from '../../../warehouse/db';
import { extractPipeline } from '../../../warehouse/extract';
import { projectRoot } from '../../../infra/root';
import { inlinePipeline, scalar, tempDir } from '../../helpers/warehouse';

const corpus = join(projectRoot(), 'test', 'fixtures', 'bad');
const expected = JSON.parse(readFileSync(join(corpus, 'expected.json'), 'utf8')) as Record<
  string,
  {
    outcome: string;
    match?: string;
    read?: number;
    loaded?: number;
    duplicates?: number;
    quarantined?: number;
    reasons?: string[];
    /** Overrides of the events source (e.g. a declared timestampFormat). */
    source?: Record<string, unknown>;
    /** The file lines of the quarantined rows, sorted (file lines, not record numbers). */
    lines?: number[];
    /** The user ids the warehouse holds afterwards, sorted (ids read as text without quoting artefacts). */
    userIds?: string[];
  }
>;

const eventsDef = (path: string, labels?: string, source: Record<string, unknown> = {}) => ({
  name: 'bad',
  sources: {
    events: {
      path,
      columns: { user_id: 'uid', ts: 'time', event: 'type', revenue: 'amount' },
      eventTypes: ['view', 'buy'],
      ...source,
    },
    ...(labels ? { labels: { path: labels, columns: { user_id: 'uid', ts: 'time', label: 'responded' } } } : {}),
  },
  label: { event: 'buy', horizon: '7d' },
});

describe('bad-input corpus', () => {
  for (const [file, exp] of Object.entries(expected)) {
    it(`${file}: ${exp.outcome}`, async () => {
      const dir = tempDir('fc-bad-');
      const loaded =
        exp.outcome === 'labels'
          ? (copyFileSync(join(corpus, 'dup_a.csv'), join(dir, 'events.csv')),
            copyFileSync(join(corpus, file), join(dir, file)),
            inlinePipeline(eventsDef('events.csv', file), dir))
          : inlinePipeline(eventsDef(join(corpus, file), undefined, exp.source), dir);
      await withDuckDB(':memory:', async (conn) => {
        if (exp.outcome === 'error') {
          await assert.rejects(
            extractPipeline(conn, loaded),
            (e: Error) => e.message.includes(exp.match!) && e.message.includes(corpus),
          );
          return;
        }
        const s = await extractPipeline(conn, loaded);
        const src = s.sources.find((x) => x.source === (exp.outcome === 'labels' ? 'labels' : 'events'))!;
        for (const k of ['read', 'loaded', 'duplicates', 'quarantined'] as const)
          if (exp[k] !== undefined) assert.equal(src[k], exp[k], k);
        assert.equal(src.read, src.loaded + src.duplicates + src.quarantined, 'every row is accounted for');
        for (const r of exp.reasons ?? [])
          assert.ok(
            Object.keys(src.quarantineReasons).some((q) => q.startsWith(r)),
            `reason "${r}" in ${JSON.stringify(src.quarantineReasons)}`,
          );
        if (exp.lines) {
          const q = await conn.runAndReadAll(`SELECT line FROM quarantine ORDER BY line`);
          assert.deepEqual(
            q.getRows().map((r) => Number(r[0])),
            exp.lines,
          );
        }
        if (exp.userIds) {
          const ids = await conn.runAndReadAll(`SELECT DISTINCT user_id FROM events ORDER BY user_id`);
          assert.deepEqual(
            ids.getRows().map((r) => r[0]),
            exp.userIds,
          );
        }
        const lines = await scalar(conn, `SELECT count(*) FROM quarantine WHERE line IS NULL OR file IS NULL`);
        assert.equal(lines, 0, 'every quarantined row names its file and line');
      });
    });
  }

  it('an enormous single line (3 MB) is read without crashing and accounted for', async () => {
    const dir = tempDir('fc-huge-');
    writeFileSync(
      join(dir, 'huge.csv'),
      `uid,time,type,amount\nu1,2024-01-01T10:00:00Z,view,\nu2,2024-01-01T11:00:00Z,${'x'.repeat(3_000_000)},\n`,
    );
    await withDuckDB(':memory:', async (conn) => {
      const s = await extractPipeline(conn, inlinePipeline(eventsDef('huge.csv'), dir));
      const e = s.sources[0];
      assert.equal(e.read, 2);
      assert.equal(e.loaded, 1);
      assert.equal(e.quarantined, 1);
    });
  });
});
