/**
 * The warehouse to and from the artifact store, so losing the data worker's disk loses nothing that was loaded:
 * `snapshotWarehouse` runs DuckDB's EXPORT DATABASE (schema + one Parquet file per table) and publishes the folder
 * under `warehouse/<pipeline>/snapshots/<stamp>/` with its manifest last, then moves `warehouse/<pipeline>/latest.json`
 * to it by compare-and-swap; `restoreWarehouse` fetches the latest snapshot through the cache and IMPORTs it into a
 * new DuckDB file on this machine. A later extract then runs incrementally on the restored file, as on the original.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { casJson, joinKey, publishSet, readJson, type ArtifactStore, type ContentCache } from '../store';
import { quoteLiteral, withDuckDB } from './db';

export interface SnapshotPointer {
  prefix: string;
  at: string;
  files: number;
  bytes: number;
}

export async function snapshotWarehouse(o: {
  database: string;
  pipeline: string;
  store: ArtifactStore;
  now?: Date;
}): Promise<SnapshotPointer> {
  const dir = mkdtempSync(join(tmpdir(), 'fc-snapshot-'));
  try {
    await withDuckDB(o.database, (conn) => conn.run(`EXPORT DATABASE ${quoteLiteral(dir)} (FORMAT parquet)`));
    const at = (o.now ?? new Date()).toISOString();
    const prefix = joinKey('warehouse', o.pipeline, 'snapshots', at.replace(/[-:.]/g, ''));
    const files = readdirSync(dir).map((name) => ({ name, path: join(dir, name) }));
    const m = await publishSet(o.store, prefix, files);
    const pointer = { prefix, at, files: m.files.length, bytes: m.files.reduce((s, f) => s + f.bytes, 0) };
    // The pointer only moves forward: an older snapshot finishing late never replaces a newer one.
    await casJson<SnapshotPointer>(
      o.store,
      joinKey('warehouse', o.pipeline, 'latest.json'),
      (cur) => (cur && cur.at >= at ? undefined : pointer),
      10,
    );
    return pointer;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Builds `database` from the latest snapshot (refusing to replace an existing file). */
export async function restoreWarehouse(o: {
  database: string;
  pipeline: string;
  store: ArtifactStore;
  cache: ContentCache;
}): Promise<SnapshotPointer> {
  if (existsSync(o.database))
    throw new Error(`${o.database} exists: restore builds a new warehouse file, move the old one away first`);
  const latest = await readJson<SnapshotPointer>(o.store, joinKey('warehouse', o.pipeline, 'latest.json'));
  if (!latest) throw new Error(`${o.store.url}: no warehouse snapshot of pipeline "${o.pipeline}" to restore`);
  const dir = mkdtempSync(join(tmpdir(), 'fc-restore-'));
  try {
    for (const key of await o.store.list(`${latest.value.prefix}/`)) {
      if (key.endsWith('/manifest.json')) continue;
      copyFileSync(await o.cache.fetchFile(o.store, key), join(dir, key.split('/').at(-1)!));
    }
    // Imported into a temp file renamed into place: a failed restore leaves no half-built warehouse.
    mkdirSync(dirname(o.database), { recursive: true });
    const tmp = `${o.database}.restore-${process.pid}`;
    rmSync(tmp, { force: true });
    await withDuckDB(tmp, (conn) => conn.run(`IMPORT DATABASE ${quoteLiteral(dir)}`));
    renameSync(tmp, o.database);
    return latest.value;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
