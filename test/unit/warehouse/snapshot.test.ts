/**
 * The warehouse survives losing its disk: extracted on "machine 1", snapshotted to a real S3-compatible store
 * (Versity Gateway; DuckDB EXPORT DATABASE to Parquet), restored on "machine 2" into a new file, where the next
 * extract is incremental: files already loaded are skipped, only a grown file's new rows are read.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withDuckDB } from '../../../warehouse/db';
import { extractPipeline } from '../../../warehouse/extract';
import { restoreWarehouse, snapshotWarehouse } from '../../../warehouse/snapshot';
import { ContentCache, type ArtifactStore } from '../../../store';
import type { ObjectServer } from '../../../store/versitygw';
import { s3StoreOn, startTestObjectServer } from '../../helpers/object-store';
import { inlinePipeline, scalar, tempDir } from '../../helpers/warehouse';

const header = 'uid,time,type,item,amount,sess';

describe('warehouse snapshot to the object store and restore on another machine', { timeout: 120_000 }, () => {
  let server: ObjectServer;
  let store: ArtifactStore;
  before(async () => {
    server = await startTestObjectServer('warehouse');
    store = s3StoreOn(server, 'fc');
  });
  after(async () => server?.stop());

  it('restores every table and row, and the next extract there reads only what is new', async () => {
    const data = tempDir();
    writeFileSync(
      join(data, 'events1.csv'),
      `${header}\nu1,2024-01-01T10:00:00Z,view,i1,,s1\nu2,2024-01-01T11:00:00Z,buy,i2,5,s2\n`,
    );
    writeFileSync(join(data, 'events2.csv'), `${header}\nu3,2024-01-03T10:00:00Z,view,i3,,s3\n,bad,view,i3,,s3\n`);
    const pipeline = inlinePipeline(
      {
        name: 'shop',
        sources: {
          events: {
            path: 'events*.csv',
            columns: {
              user_id: 'uid',
              ts: 'time',
              event: 'type',
              item_id: 'item',
              revenue: 'amount',
              session_id: 'sess',
            },
            eventTypes: ['view', 'buy'],
          },
        },
        label: { event: 'buy', horizon: '7d' },
      },
      data,
    );
    const first = join(tempDir('fc-m1-'), 'warehouse', 'shop.duckdb');
    await withDuckDB(first, (conn) => extractPipeline(conn, pipeline));
    const snap = await snapshotWarehouse({ database: first, pipeline: 'shop', store });
    assert.ok(snap.files >= 3 && snap.bytes > 0, JSON.stringify(snap));

    const home2 = tempDir('fc-m2-');
    const second = join(home2, 'warehouse', 'shop.duckdb');
    await restoreWarehouse({
      database: second,
      pipeline: 'shop',
      store,
      cache: new ContentCache(join(home2, 'cache')),
    });
    const tables = async (db: string) =>
      withDuckDB(db, async (conn) => {
        const names = (
          await (await conn.run('SELECT table_name FROM information_schema.tables ORDER BY 1')).getRows()
        ).map((r) => String(r[0]));
        const counts: Record<string, number> = {};
        for (const t of names) counts[t] = await scalar(conn, `SELECT count(*) FROM "${t}"`);
        return counts;
      });
    const before = await tables(first);
    assert.deepEqual(await tables(second), before);
    assert.equal(before.quarantine, 1);

    appendFileSync(join(data, 'events1.csv'), 'u4,2024-01-04T10:00:00Z,view,i4,,s4\n');
    const next = await withDuckDB(second, (conn) => extractPipeline(conn, pipeline));
    const files = next.sources[0]!.files;
    assert.ok(files.find((f) => f.file.endsWith('events2.csv'))!.skipped, 'an unchanged file is not read again');
    assert.equal(next.sources[0]!.read, 1, 'only the appended row is read');
    assert.equal(next.events, 4);
    await assert.rejects(
      restoreWarehouse({ database: second, pipeline: 'shop', store, cache: new ContentCache(join(home2, 'cache')) }),
      /exists/,
    );
  });
});
