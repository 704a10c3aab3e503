/**
 * Run by test/unit/warehouse/disk-full.test.ts inside `unshare -rm` with a small tmpfs mounted at argv[2]: fills
 * it, extracts into a warehouse there (which runs out of space), frees the space and extracts again. Prints one
 * JSON object: the first error, what the warehouse held after it, and the second extract's counts.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withDuckDB } from '../../warehouse/db';
import { extractPipeline } from '../../warehouse/extract';
import { inlinePipeline } from './warehouse';

async function main(small: string, dataDir: string, fillerBytes: number) {
  const filler = join(small, 'filler');
  writeFileSync(filler, Buffer.alloc(fillerBytes));
  const loaded = inlinePipeline(
    {
      name: 'full',
      sources: {
        events: { path: 'events.csv', columns: { user_id: 'uid', ts: 'time', event: 'type', revenue: 'amount' } },
      },
      label: { event: 'view', horizon: '7d' },
    },
    dataDir,
  );
  const db = join(small, 'w.duckdb');
  let error = '';
  try {
    await withDuckDB(db, (conn) => extractPipeline(conn, loaded));
  } catch (e) {
    error = (e as Error).message;
  }
  const after = await withDuckDB(db, async (conn) => {
    const n = async (sql: string) => Number((await conn.runAndReadAll(sql)).getRows()[0][0]);
    const has = await n(`SELECT count(*) FROM duckdb_tables() WHERE table_name = 'events'`);
    return has
      ? { events: await n(`SELECT count(*) FROM events`), files: await n(`SELECT count(*) FROM source_files`) }
      : null;
  });
  rmSync(filler);
  const s = await withDuckDB(db, (conn) => extractPipeline(conn, loaded));
  const e = s.sources[0];
  console.log(JSON.stringify({ error, after, rerun: { read: e.read, loaded: e.loaded, quarantined: e.quarantined } }));
}

void main(process.argv[2], process.argv[3], Number(process.argv[4]));
