/**
 * The artifact store: everything one step hands another is an object under a key (`runs/<pipeline>/<runId>/…`,
 * `registry/<pipeline>/…`), in a local folder (the embedded default) or an S3-compatible bucket. Keys are
 * `/`-separated, relative, and never machine-local paths, so a key a worker returns means the same on every worker.
 */

/** What the store says about one stored object. `etag` is the token a conditional write compares against. */
export interface ObjectInfo {
  key: string;
  etag: string;
  bytes: number;
  /** The SHA-256 of the bytes, recorded by the writer (metadata); null for objects written by other tools. */
  sha256: string | null;
}

/** An object as a listing names it: enough to see that it changed (its ETag), not what it holds. */
export interface ListedObject {
  key: string;
  etag: string;
  bytes: number;
}

export interface PutOptions {
  /** Write only when the object's current ETag is this one (compare-and-swap). */
  ifMatch?: string;
  /** Write only when no object exists under the key (create-once). */
  ifNoneMatch?: '*';
}

export interface ArtifactStore {
  /** `file:///abs/folder` or `s3://bucket/prefix`: what FUNNELCAST_STORE names. */
  readonly url: string;
  /** Writes one object atomically (readers see the old bytes or the new, never part); throws PreconditionFailedError. */
  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<ObjectInfo>;
  get(key: string): Promise<{ body: Buffer; info: ObjectInfo } | null>;
  head(key: string): Promise<ObjectInfo | null>;
  /** Every key under the prefix, sorted. */
  list(prefix: string): Promise<string[]>;
  /** The same, with each object's ETag and size as the listing gives them (no request per object on S3). */
  listInfo(prefix: string): Promise<ListedObject[]>;
  delete(key: string): Promise<void>;
  close(): void;
}

/** A conditional write lost: the object changed (If-Match) or already exists (If-None-Match) since it was read. */
export class PreconditionFailedError extends Error {
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super(`${key}: ${detail}`);
    this.name = 'PreconditionFailedError';
  }
}

/** Keys are relative and `/`-separated: a `..`, an absolute path or a backslash is a bug in the caller. */
export function checkKey(key: string): string {
  if (
    !key ||
    key.startsWith('/') ||
    key.includes('\\') ||
    key.split('/').some((p) => p === '' || p === '..' || p === '.')
  )
    throw new Error(`"${key}" is not a store key (relative, '/'-separated, no '.', '..' or empty parts)`);
  return key;
}

/** Joins key parts, dropping empty ones: joinKey('runs', 'sample', 'x.parquet'). */
export function joinKey(...parts: (string | undefined)[]): string {
  return parts
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/^\/+|\/+$/g, ''))
    .filter(Boolean)
    .join('/');
}
