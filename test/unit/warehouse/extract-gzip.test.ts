/**
 * A gzipped CSV is inflated once. The whole file is inflated to check it (a truncated gzip loads nothing), and
 * DuckDB reads those bytes from a copy beside the warehouse instead of inflating the file again, single-threaded,
 * in its CSV reader (10 M events: 130 MB of gzip). The copy has a name of its own per load and is removed after
 * the load, a failed one too.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { DuckDBConnection } from '@duckdb/node-api';
import { withDuckDB } from '../../../warehouse/db';
import { extractPipeline } from '../../../warehouse/extract';
import { inlinePipeline, scalar, tempDir } from '../../helpers/warehouse';

const csv = (n: number) =>
  ['uid,time,type,amount', ...Array.from({ length: n }, (_, i) => `u${i},2024-01-0${(i % 9) + 1}T10:00:00Z,view,`)]
    .join('\n')
    .concat('\n');

const pipeline = (dir: string) =>
  inlinePipeline(
    {
      name: 'gz',
      sources: {
        events: { path: 'events.csv.gz', columns: { user_id: 'uid', ts: 'time', event: 'type', revenue: 'amount' } },
      },
      label: { event: 'view', horizon: '7d' },
      features: { windows: ['7d'] },
    },
    dir,
  );

/** The connection, recording the paths every read_csv of a statement reads. */
function recordingReads(conn: DuckDBConnection, paths: string[]): DuckDBConnection {
  return new Proxy(conn, {
    get(target, prop, receiver) {
      if (prop !== 'run') return Reflect.get(target, prop, receiver) as unknown;
      return (sql: string, params?: Record<string, string>) => {
        for (const m of sql.matchAll(/read_csv\('([^']*)'/g)) paths.push(m[1]);
        return target.run(sql, params);
      };
    },
  });
}

describe('gzipped sources are inflated once', () => {
  it('DuckDB reads the copy the gzip check inflated, beside the warehouse; the copy is gone afterwards', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'events.csv.gz'), gzipSync(csv(3000)));
    await withDuckDB(join(dir, 'w.duckdb'), async (conn) => {
      const read: string[] = [];
      const s = (await extractPipeline(recordingReads(conn, read), pipeline(dir))).sources[0];
      assert.deepEqual([s.read, s.loaded, s.duplicates, s.quarantined], [3000, 3000, 0, 0]);
      assert.equal(read.length, 1, read.join(', '));
      assert.ok(!read[0].endsWith('.gz') && read[0].startsWith(dir), `read ${read[0]}`);
      assert.equal(existsSync(read[0]), false, 'the inflated copy is removed');
      assert.equal(await scalar(conn, `SELECT count(DISTINCT user_id) FROM events`), 3000);
    });
  });

  it('a truncated gzip leaves no copy behind', async () => {
    const dir = tempDir();
    const whole = gzipSync(csv(3000));
    writeFileSync(join(dir, 'events.csv.gz'), whole.subarray(0, Math.floor(whole.length / 2)));
    await withDuckDB(join(dir, 'w.duckdb'), async (conn) => {
      await assert.rejects(extractPipeline(conn, pipeline(dir)), /truncated or corrupt gzip/);
    });
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('.csv')),
      [],
    );
  });
});
