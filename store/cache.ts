/**
 * A worker's local cache of store objects, keyed by content hash: `<cache>/sha256/<hex>`. `fetchFile` asks the
 * store what the key holds now (its SHA-256), uses the cached copy only when a file with exactly that hash is
 * there, and otherwise downloads, checks the hash and renames the copy into place: a missing or damaged entry is
 * fetched, never assumed. Several workers may share nothing but the store; each has its own cache.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../infra/atomic';
import { sha256Hex } from './local';
import type { ArtifactStore, ObjectInfo } from './types';

export class MissingObjectError extends Error {
  constructor(store: ArtifactStore, key: string) {
    super(`${store.url}: no object "${key}" (an earlier step did not write it, or it was deleted)`);
    this.name = 'MissingObjectError';
  }
}

export interface CacheStats {
  hits: number;
  fetched: number;
  bytesFetched: number;
}

export class ContentCache {
  readonly stats: CacheStats = { hits: 0, fetched: 0, bytesFetched: 0 };

  /** Entries whose bytes were hashed and found whole, with the stat they had then. */
  private readonly checked = new Map<string, string>();

  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'sha256'), { recursive: true });
  }

  pathOf(sha256: string): string {
    return join(this.dir, 'sha256', sha256);
  }

  /**
   * A local path holding the bytes of `key` as the store has them now. `known`: what a HEAD the caller just sent
   * said of the key (saves asking twice).
   */
  async fetchFile(store: ArtifactStore, key: string, known?: ObjectInfo | null): Promise<string> {
    return (await this.fetch(store, key, known)).path;
  }

  /**
   * The same, with the bytes this call downloaded (0 when the cache held them): the caller's own count, which a
   * difference of `stats` taken around the call is not when other fetches of this worker run at the same time.
   */
  async fetch(store: ArtifactStore, key: string, known?: ObjectInfo | null): Promise<{ path: string; bytes: number }> {
    const info = known ?? (await store.head(key));
    if (!info) throw new MissingObjectError(store, key);
    if (info.sha256 && this.holds(info.sha256)) {
      this.stats.hits++;
      return { path: this.pathOf(info.sha256), bytes: 0 };
    }
    const got = await store.get(key);
    if (!got) throw new MissingObjectError(store, key);
    const sha = sha256Hex(got.body);
    if (got.info.sha256 && got.info.sha256 !== sha)
      throw new Error(`${store.url}/${key}: its bytes hash to ${sha}, its metadata says ${got.info.sha256}`);
    writeFileAtomic(this.pathOf(sha), got.body);
    this.stats.fetched++;
    this.stats.bytesFetched += got.body.length;
    return { path: this.pathOf(sha), bytes: got.body.length };
  }

  /**
   * A cached entry counts only when its bytes still hash to its name (a truncated copy is fetched again). Once
   * checked, an entry is not hashed again while its size, mtime and inode stay the same.
   */
  private holds(sha256: string): boolean {
    const p = this.pathOf(sha256);
    const st = statSync(p, { bigint: true, throwIfNoEntry: false });
    if (!st) return false;
    const stamp = `${st.size}:${st.mtimeNs}:${st.ino}`;
    if (this.checked.get(sha256) === stamp) return true;
    if (sha256Hex(readFileSync(p)) !== sha256) return false;
    this.checked.set(sha256, stamp);
    return true;
  }

  /** Records bytes this worker just wrote to the store, so reading them back costs no download. */
  remember(body: Uint8Array): string {
    const sha = sha256Hex(body);
    if (!existsSync(this.pathOf(sha))) writeFileAtomic(this.pathOf(sha), body);
    return sha;
  }
}
