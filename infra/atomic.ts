import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

/**
 * Who writes a file, for writers that may be superseded (an activity attempt that was cancelled or timed out while
 * a retry already runs in the same process): `tag` goes into its temp names, so two attempts never share one, and
 * `signal` is checked right before each rename, so a stale attempt never replaces what a newer one wrote.
 */
export interface Writer {
  tag?: string;
  signal?: AbortSignal;
}

/** Thrown when a cancelled (or superseded) writer reaches a rename: the caller's work stops there. */
export class WriteCancelledError extends Error {
  constructor(file: string, reason?: unknown) {
    super(`not writing ${file}: ${reason instanceof Error ? reason.message : String(reason ?? 'cancelled')}`);
    this.name = 'WriteCancelledError';
  }
}

/**
 * A temp name beside `file` that no other writer uses: the pid alone is shared by every attempt in one worker
 * process, so the writer's tag and a random suffix go in too.
 */
export function tempNameFor(file: string, writer: Writer = {}): string {
  const tag = writer.tag ? `-${writer.tag.replace(/[^A-Za-z0-9_.-]/g, '_')}` : '';
  return `${file}.tmp-${process.pid}${tag}-${randomBytes(4).toString('hex')}`;
}

export function throwIfCancelled(file: string, writer: Writer = {}): void {
  if (writer.signal?.aborted) throw new WriteCancelledError(file, writer.signal.reason);
}

/**
 * The last step of an atomic write, idempotent: a cancelled writer stops before it (and removes its temp); a temp
 * that vanished while the final file exists means another writer of the same bytes finished first (not an error);
 * a temp that vanished with no final file is reported as what it is, not as a bare ENOENT.
 */
export function commitTemp(tmp: string, file: string, writer: Writer = {}): void {
  if (writer.signal?.aborted) {
    rmSync(tmp, { force: true });
    throw new WriteCancelledError(file, writer.signal.reason);
  }
  try {
    renameSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !existsSync(dirname(file))) throw e;
    if (existsSync(file)) return;
    throw new Error(`the temp file ${tmp} vanished before it could become ${file} (removed by another writer?)`);
  }
}

/** True when `file` already holds exactly these bytes (a finished attempt wrote them): the write can be skipped. */
function sameBytes(file: string, bytes: Uint8Array): boolean {
  try {
    return statSync(file).size === bytes.length && Buffer.compare(readFileSync(file), bytes) === 0;
  } catch {
    return false;
  }
}

/**
 * Writes a file so a reader never sees half of it: write to a temp name beside it, fsync, rename. A crash before
 * the rename leaves the previous file intact (rename within one folder is atomic on POSIX). Idempotent: a file
 * that already has these bytes is left as is.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, writer: Writer = {}): void {
  throwIfCancelled(file, writer);
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  if (sameBytes(file, bytes)) return;
  mkdirSync(dirname(file), { recursive: true });
  const tmp = tempNameFor(file, writer);
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    commitTemp(tmp, file, writer);
  } finally {
    rmSync(tmp, { force: true });
  }
}

export function writeJsonAtomic(file: string, value: unknown, writer: Writer = {}): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n', writer);
}
