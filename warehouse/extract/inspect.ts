/**
 * What a source file is before any row of it is read: its sha256, whether its compression is one we read and is
 * complete, and whether the part of it already loaded is still there unchanged (so growth is a true append).
 *
 * DuckDB reads a truncated gzip up to the cut without an error (the row cut mid-line becomes a malformed record),
 * so a half-copied file would load half and be skipped for good once it arrived whole. The whole stream is
 * therefore decompressed here first; any error refuses the file before anything of it is loaded.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, openSync, readSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { ExtractError } from './types';

/** Compressions DuckDB would misread or not read at all: refused by name instead of failing deep in a reader. */
const UNSUPPORTED = /\.(zst|zstd|bz2|xz|lz4|lzma|lz|zip|7z|br|snappy|sz|z|tgz|tar)$/i;

export function isGzip(file: string): boolean {
  return /\.(gz|gzip)$/i.test(file);
}

function checkCompression(file: string): void {
  const m = UNSUPPORTED.exec(file);
  if (m)
    throw new ExtractError(
      `${file}: ${m[1]} compression is not supported; decompress it, or compress it with gzip (.gz)`,
      file,
    );
}

function readBytes(file: string, position: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const n = readSync(fd, buf, 0, length, position);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * Refuses a file whose compression we do not read, or a `.gz` that is not complete gzip (before it is loaded).
 * With `keepPlainAt`, the bytes decompressed to check it are written to that file (the caller removes it): DuckDB
 * then reads them instead of inflating the file a second time, single-threaded, in its CSV reader.
 */
export async function verifyCompression(file: string, keepPlainAt?: string): Promise<void> {
  checkCompression(file);
  if (isGzip(file)) await verifyGzip(file, keepPlainAt);
}

/** Decompresses the whole file (into nothing, or `out`): a truncated, corrupt or non-gzip `.gz` is an error naming the file. */
async function verifyGzip(file: string, out?: string): Promise<void> {
  const magic = readBytes(file, 0, 2);
  if (magic.length < 2 || magic[0] !== 0x1f || magic[1] !== 0x8b)
    throw new ExtractError(`${file} is named .gz but is not gzip-compressed: rename it without .gz, or gzip it`, file);
  const sink = out ? createWriteStream(out) : new Writable({ write: (_chunk, _enc, done) => done() });
  try {
    await pipeline(createReadStream(file), createGunzip(), sink);
  } catch (e) {
    // Only zlib's own failures (Z_BUF_ERROR: cut short, Z_DATA_ERROR: corrupt) say the file is bad; a failed write
    // of the copy (a full disk) or read is reported as itself.
    if (!String((e as NodeJS.ErrnoException).code ?? '').startsWith('Z_')) throw e;
    throw new ExtractError(
      `${file} is a truncated or corrupt gzip file (${(e as Error).message}); nothing of it was loaded: copy it again completely`,
      file,
    );
  }
}

export interface FileDigest {
  sha256: string;
  /** sha256 of the first `prefixBytes` bytes, when asked and the file is at least that long. */
  prefixSha256?: string;
  /** The byte right after the prefix (to tell an appended record from a continued last line). */
  byteAfterPrefix?: number;
  /** The last byte of the prefix. */
  lastPrefixByte?: number;
}

/** One pass over the file: the whole file's sha256 and, on the way, the sha256 of its first `prefixBytes` bytes. */
export async function digestFile(file: string, prefixBytes?: number): Promise<FileDigest> {
  const h = createHash('sha256');
  let seen = 0;
  let prefix: Hash | undefined;
  for await (const chunk of createReadStream(file)) {
    const buf = chunk as Buffer;
    if (prefixBytes !== undefined && prefix === undefined && seen + buf.length >= prefixBytes) {
      const cut = prefixBytes - seen;
      h.update(buf.subarray(0, cut));
      prefix = h.copy();
      h.update(buf.subarray(cut));
    } else h.update(buf);
    seen += buf.length;
  }
  const out: FileDigest = { sha256: h.digest('hex') };
  if (prefix && prefixBytes !== undefined && prefixBytes > 0) {
    out.prefixSha256 = prefix.digest('hex');
    const around = readBytes(file, prefixBytes - 1, 2);
    out.lastPrefixByte = around[0];
    out.byteAfterPrefix = around[1];
  }
  return out;
}
