/**
 * One binned feature table per worker process, lent to every training thread (issue 17). Each training activity
 * runs on a fresh worker thread (activities/offthread), so a cache in the thread's module died with it: the three
 * folds and the holdout forest of a 10 M-event run each read and binned the 3.2 M-row table again (7.9 CPU-s each).
 * Now the first thread to need a table reads it into shared memory (codes, labels and ids in SharedArrayBuffers)
 * and hands it to the process (TableLender, on the thread that starts the jobs); later threads, and threads that
 * asked while it was being read, get the same memory without a copy.
 */
import type { Bins } from '../ml/forest/binning';
import type { FeatureEncoding } from './matrix';

/** User ids in shared memory: UTF-8 bytes and each id's end offset; decoded one at a time or all at once. */
export class SharedIds {
  private decoded: string[] | null;

  constructor(
    readonly bytes: Uint8Array,
    readonly ends: Uint32Array,
    decoded: string[] | null = null,
  ) {
    this.decoded = decoded;
  }

  static encode(ids: string[]): SharedIds {
    let total = 0;
    for (const id of ids) total += Buffer.byteLength(id);
    const bytes = Buffer.from(new SharedArrayBuffer(Math.max(1, total)));
    const ends = new Uint32Array(new SharedArrayBuffer(4 * Math.max(1, ids.length)));
    let at = 0;
    for (let i = 0; i < ids.length; i++) ends[i] = at += bytes.write(ids[i], at);
    return new SharedIds(new Uint8Array(bytes.buffer, 0, total), ends.subarray(0, ids.length), ids);
  }

  get length(): number {
    return this.ends.length;
  }

  at(i: number): string {
    if (this.decoded) return this.decoded[i];
    const buf = Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    return buf.toString('utf8', i ? this.ends[i - 1] : 0, this.ends[i]);
  }

  /** Every id as a string (kept: the holdout split hashes them all). */
  all(): string[] {
    if (this.decoded) return this.decoded;
    const buf = Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    const out = new Array<string>(this.length);
    for (let i = 0, from = 0; i < out.length; from = this.ends[i++]) out[i] = buf.toString('utf8', from, this.ends[i]);
    return (this.decoded = out);
  }
}

export interface BinnedTable {
  bins: Bins;
  names: string[];
  /** Labels of every row (the label column is required), in shared memory. */
  y: Uint8Array;
  ids: SharedIds;
  encoding: FeatureEncoding;
  /** Bytes held: codes, labels and ids. */
  bytes: number;
}

/** A binned table as it crosses between threads: typed arrays over SharedArrayBuffers, plain data otherwise. */
export interface LentTable {
  bins: Bins;
  names: string[];
  y: Uint8Array;
  idBytes: Uint8Array;
  idEnds: Uint32Array;
  encoding: FeatureEncoding;
  bytes: number;
}

export const toLent = (t: BinnedTable): LentTable => ({
  bins: t.bins,
  names: t.names,
  y: t.y,
  idBytes: t.ids.bytes,
  idEnds: t.ids.ends,
  encoding: t.encoding,
  bytes: t.bytes,
});

export const fromLent = (t: LentTable): BinnedTable => ({
  bins: t.bins,
  names: t.names,
  y: t.y,
  ids: new SharedIds(t.idBytes, t.idEnds),
  encoding: t.encoding,
  bytes: t.bytes,
});

/** What a thread asks the process for a table, and what it is told: the table, or to read it itself. */
export type TableQuestion =
  { kind: 'binnedTable'; key: string } | { kind: 'binnedTableRead'; key: string; table: LentTable | null };
export type TableAnswer = { table: LentTable } | { read: true } | { stored: boolean };

interface Waiter {
  owner: object;
  resolve: (a: TableAnswer) => void;
}

interface Held {
  table: LentTable;
  idle?: NodeJS.Timeout;
}

/**
 * The process's binned tables, lent to threads by key (file, size, mtime, bins, label, id column). One reader per
 * key at a time: a thread asking while another reads the table waits for it. Idle tables are dropped after `idleMs`
 * and, oldest first, when the tables held pass `maxBytes` (threads still using one keep it alive).
 */
export class TableLender {
  private readonly held = new Map<string, Held>();
  private readonly reading = new Map<string, { owner: object; waiting: Waiter[] }>();
  lent = 0;
  stored = 0;

  constructor(
    private readonly maxBytes: () => number,
    private readonly idleMs: number,
  ) {}

  /** Answers one question of the job `owner` (any object that stands for the job, for abandon()). */
  answer(owner: object, q: TableQuestion): Promise<TableAnswer> | TableAnswer {
    if (q.kind === 'binnedTableRead') return this.store(owner, q.key, q.table);
    const h = this.held.get(q.key);
    if (h) {
      this.touch(q.key, h);
      this.lent++;
      return { table: h.table };
    }
    const r = this.reading.get(q.key);
    if (r) return new Promise((resolve) => r.waiting.push({ owner, resolve }));
    this.reading.set(q.key, { owner, waiting: [] });
    return { read: true };
  }

  /** A job ended: a table it was reading and did not hand over is read by the first job waiting for it. */
  abandon(owner: object): void {
    for (const [key, r] of this.reading) {
      r.waiting = r.waiting.filter((w) => w.owner !== owner);
      if (r.owner === owner) this.passOn(key);
    }
  }

  /** The reader of `key` gave up: the next waiting job reads it (the others keep waiting). */
  private passOn(key: string) {
    const r = this.reading.get(key);
    const next = r?.waiting.shift();
    if (!r || !next) this.reading.delete(key);
    else {
      r.owner = next.owner;
      next.resolve({ read: true });
    }
  }

  get size(): number {
    return this.held.size;
  }

  clear(): void {
    for (const h of this.held.values()) clearTimeout(h.idle);
    this.held.clear();
  }

  private store(owner: object, key: string, table: LentTable | null): TableAnswer {
    const r = this.reading.get(key);
    if (!table) {
      if (r?.owner === owner) this.passOn(key);
      return { stored: false };
    }
    if (r?.owner === owner) this.reading.delete(key);
    const h: Held = { table };
    this.held.delete(key);
    this.held.set(key, h);
    this.stored++;
    this.touch(key, h);
    for (const w of r?.owner === owner ? r.waiting : []) {
      this.lent++;
      w.resolve({ table });
    }
    this.evict(key);
    return { stored: true };
  }

  private touch(key: string, h: Held) {
    this.held.delete(key); // re-inserted: most recently used last
    this.held.set(key, h);
    clearTimeout(h.idle);
    h.idle = setTimeout(() => this.held.get(key) === h && this.held.delete(key), this.idleMs);
    h.idle.unref();
  }

  private evict(keep: string) {
    let total = 0;
    for (const [key, h] of [...this.held.entries()].reverse()) {
      total += h.table.bytes;
      if (key !== keep && total > this.maxBytes()) {
        clearTimeout(h.idle);
        this.held.delete(key);
      }
    }
  }
}
