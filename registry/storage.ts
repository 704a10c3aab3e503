/** Where the registry keeps its files, and the lock that serialises publishes and promotions. */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../infra/atomic';
import { withLockFile as withLockFile_ } from '../infra/lock-file';

/** What the registry needs from storage; the local disk implements it, an object store could too. */
export interface RegistryStorage {
  root: string;
  exists(path: string): boolean;
  readText(path: string): string;
  /** Replace a small file atomically. */
  writeJson(path: string, value: unknown): void;
  list(dir: string): string[];
  /** Publish a fully written folder under its final name in one step. */
  commitFolder(tmpDir: string, finalDir: string): void;
}

export class LocalStorage implements RegistryStorage {
  constructor(readonly root: string) {
    mkdirSync(join(root, 'versions'), { recursive: true });
  }
  exists = (p: string) => existsSync(join(this.root, p));
  readText = (p: string) => readFileSync(join(this.root, p), 'utf8');
  writeJson = (p: string, v: unknown) => writeJsonAtomic(join(this.root, p), v);
  list = (d: string) => (existsSync(join(this.root, d)) ? readdirSync(join(this.root, d)).sort() : []);
  commitFolder = (tmp: string, final: string) => renameSync(tmp, join(this.root, final));
}

/**
 * Runs fn while holding the registry's lock file (infra/lock-file.ts: the holder's pid is in it; a dead holder's
 * lock is taken over at once, a live holder is waited for with a message naming its pid).
 */
export function withLockFile<T>(lock: string, root: string, fn: () => Promise<T> | T, timeoutMs: number): Promise<T> {
  return withLockFile_(lock, fn, { timeoutMs, what: `registry ${root}` });
}
