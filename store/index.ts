/**
 * The artifact store chosen by configuration, and the operations built on its put/get:
 *   FUNNELCAST_STORE  unset → the local folder `<home>/store`; `file:///abs/folder`; `s3://bucket/prefix`
 *   FUNNELCAST_CACHE  this worker's content-hash cache (default `<home>/cache`)
 * `publishSet` writes a set of files and then its manifest with create-once semantics: a reader that finds the
 * manifest finds every object it names (S3 makes each object visible whole; the manifest is written last).
 */
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { funnelcastHome } from '../infra/paths';
import { ContentCache } from './cache';
import { LocalStore, sha256Hex } from './local';
import { S3Store, s3Location } from './s3';
import { joinKey, PreconditionFailedError, type ArtifactStore } from './types';
import { CountingStore } from './counting';

export * from './types';
export { ContentCache, MissingObjectError } from './cache';
export { LocalStore, sha256Hex } from './local';
export { S3Store, s3Location } from './s3';
export { casJson, readJson } from './pointer';
export { StoreBoundary, keysOnThisMachine, mapStrings, type BoundaryStats } from './boundary';
export { CountingStore, isStoreStepsMessage, type StepStoreStats, type StoreStepsMessage } from './counting';

export function openStore(url: string | undefined = process.env.FUNNELCAST_STORE): ArtifactStore {
  if (!url) return new LocalStore(join(funnelcastHome(), 'store'));
  if (url.startsWith('file://')) return new LocalStore(fileURLToPath(url));
  if (url.startsWith('s3://')) return new S3Store(s3Location(url));
  throw new Error(`FUNNELCAST_STORE=${url}: expected file:///absolute/folder or s3://bucket/prefix`);
}

let shared: { config: string; store: CountingStore } | null = null;

/**
 * This process's (or thread's) store of FUNNELCAST_STORE, counting its calls; null without one. One instance for
 * the activities' boundary, the training checkpoints and the registry: their calls land in the same per-step rows
 * (FUNNELCAST_STORE_STATS), and they share one client's connections.
 */
export function sharedStore(): CountingStore | null {
  const env = process.env;
  if (!env.FUNNELCAST_STORE) return null;
  // Tests change the store (and its credentials) within one process: a changed configuration opens a new one.
  const config = JSON.stringify(Object.entries(env).filter(([k]) => k === 'FUNNELCAST_STORE' || k.startsWith('AWS_')));
  if (shared?.config !== config) shared = { config, store: new CountingStore(openStore(env.FUNNELCAST_STORE)) };
  return shared.store;
}

export function openCache(dir: string | undefined = process.env.FUNNELCAST_CACHE): ContentCache {
  return new ContentCache(resolve(dir ?? join(funnelcastHome(), 'cache')));
}

export interface SetManifest {
  key: string;
  files: { name: string; key: string; bytes: number; sha256: string }[];
}

/**
 * Publishes local files as `<prefix>/<name>` and then `<prefix>/manifest.json` (create-once). Publishing the same
 * bytes again (a retried activity) is accepted; different bytes under a published prefix are refused.
 */
export async function publishSet(
  store: ArtifactStore,
  prefix: string,
  files: { name: string; path: string }[],
): Promise<SetManifest> {
  const manifest: SetManifest = { key: joinKey(prefix, 'manifest.json'), files: [] };
  for (const f of [...files].sort((a, b) => a.name.localeCompare(b.name))) {
    const body = readFileSync(f.path);
    const key = joinKey(prefix, f.name || basename(f.path));
    await store.put(key, body);
    manifest.files.push({ name: f.name, key, bytes: body.length, sha256: sha256Hex(body) });
  }
  const text = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
  try {
    await store.put(manifest.key, text, { ifNoneMatch: '*' });
  } catch (e) {
    if (!(e instanceof PreconditionFailedError)) throw e;
    const existing = await store.get(manifest.key);
    if (!existing || !existing.body.equals(text))
      throw new Error(`${store.url}/${prefix} is already published with other contents: it is immutable`);
  }
  return manifest;
}
