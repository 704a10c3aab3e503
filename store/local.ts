/**
 * The local-folder store (`file:///abs/folder`, the embedded default): an object is a file under the folder, written
 * by temp + rename so readers never see part of it. Its ETag is the SHA-256 of the bytes; conditional writes compare
 * it under a lock file, which serialises writers of one machine (the folder is not shared between machines: that is
 * what the S3 store is for).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeFileAtomic } from '../infra/atomic';
import { withLockFile } from '../infra/lock-file';
import { checkKey, PreconditionFailedError, type ArtifactStore, type ListedObject, type ObjectInfo, type PutOptions } from './types';

export const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export class LocalStore implements ArtifactStore {
  readonly url: string;

  constructor(readonly root: string) {
    mkdirSync(root, { recursive: true });
    this.url = pathToFileURL(root).href;
  }

  private file(key: string): string {
    return join(this.root, ...checkKey(key).split('/'));
  }

  async put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<ObjectInfo> {
    const file = this.file(key);
    const write = () => {
      mkdirSync(dirname(file), { recursive: true });
      writeFileAtomic(file, body);
      const sha = sha256Hex(body);
      return { key, etag: sha, bytes: body.length, sha256: sha };
    };
    if (!opts.ifMatch && !opts.ifNoneMatch) return write();
    const lock = join(this.root, '.locks', `${sha256Hex(Buffer.from(key)).slice(0, 16)}.lock`);
    mkdirSync(dirname(lock), { recursive: true });
    return withLockFile(
      lock,
      async () => {
        const now = await this.head(key);
        if (opts.ifNoneMatch && now) throw new PreconditionFailedError(key, 'already exists');
        if (opts.ifMatch && now?.etag !== opts.ifMatch)
          throw new PreconditionFailedError(key, `changed (etag ${now?.etag ?? 'none'}, expected ${opts.ifMatch})`);
        return write();
      },
      // Waiting writers of one pointer are normal (compare-and-swap races): no message per wait.
      { timeoutMs: 60_000, what: `store object ${key}`, log: () => undefined },
    );
  }

  async get(key: string): Promise<{ body: Buffer; info: ObjectInfo } | null> {
    let body: Buffer;
    try {
      body = readFileSync(this.file(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    const sha = sha256Hex(body);
    return { body, info: { key, etag: sha, bytes: body.length, sha256: sha } };
  }

  async head(key: string): Promise<ObjectInfo | null> {
    return (await this.get(key))?.info ?? null;
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = (dir: string) => {
      if (!existsSync(dir)) return;
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (name.startsWith('.') || name.includes('.tmp-')) continue;
        if (statSync(p).isDirectory()) walk(p);
        else out.push(relative(this.root, p).split(sep).join('/'));
      }
    };
    walk(this.root);
    return out.filter((k) => k.startsWith(prefix)).sort();
  }

  /** A local folder's ETag is the content hash: listing it reads every file (as HEAD does). */
  async listInfo(prefix: string): Promise<ListedObject[]> {
    const out: ListedObject[] = [];
    for (const key of await this.list(prefix)) {
      const info = await this.head(key);
      if (info) out.push({ key, etag: info.etag, bytes: info.bytes });
    }
    return out;
  }

  async delete(key: string): Promise<void> {
    rmSync(this.file(key), { force: true });
  }

  close(): void {}
}
