/** Where the registry keeps its files, and the lock that serialises publishes and promotions. */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../infra/atomic';

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

/** Runs fn while holding an O_EXCL lock file; a lock older than 10 minutes is stale (its holder died). */
export async function withLockFile<T>(
  lock: string,
  root: string,
  fn: () => Promise<T> | T,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        if (Date.now() - statSync(lock).mtimeMs > 600_000) rmSync(lock, { force: true });
      } catch {
        // the holder removed it meanwhile
      }
      if (Date.now() > deadline)
        throw new Error(`registry ${root} is locked (${lock}); remove it if no publish is running`);
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}
