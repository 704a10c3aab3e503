/**
 * A worker's copy of the registry in the artifact store, in the local registry's layout (versions/<v>/…,
 * decisions/, history/, champion.json), so the readers that score, compare and list (sync, file-based) read what
 * the store holds. Everything but the pointer is immutable once written (a version is published with its
 * manifest last; decisions and history entries are create-once), so only what is missing is fetched, and a
 * version is copied only once its manifest is in the store (never a half-published one). The pointer is copied
 * every time: the store's is the only one that counts, and it is only ever moved there, by compare-and-swap.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../infra/atomic';
import type { StoreRegistry } from './store-registry';

export async function mirrorRegistry(shared: StoreRegistry, root: string): Promise<{ fetched: number; bytes: number }> {
  const prefix = shared.key() + '/';
  const keys = await shared.store.list(prefix);
  const published = new Set(
    keys.filter((k) => k.endsWith('/manifest.json')).map((k) => k.slice(0, -'manifest.json'.length)),
  );
  let fetched = 0;
  let bytes = 0;
  for (const k of keys) {
    const rel = k.slice(prefix.length);
    if (rel === 'champion.json' || rel.startsWith('numbers/')) continue;
    if (rel.startsWith('versions/') && !published.has(k.slice(0, k.lastIndexOf('/') + 1))) continue;
    const local = join(root, ...rel.split('/'));
    if (existsSync(local)) continue;
    const got = await shared.store.get(k);
    if (!got) continue;
    mkdirSync(dirname(local), { recursive: true });
    writeFileAtomic(local, got.body);
    fetched++;
    bytes += got.body.length;
  }
  const pointer = await shared.store.get(shared.key('champion.json'));
  if (pointer) writeFileAtomic(join(root, 'champion.json'), pointer.body);
  else rmSync(join(root, 'champion.json'), { force: true });
  return { fetched, bytes };
}
