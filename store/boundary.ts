/**
 * What crosses Temporal when workers share nothing but the store: keys, never machine-local paths. A worker keeps
 * its artifacts under its own FUNNELCAST_HOME; the key of a file is its path relative to the home
 * (`runs/<pipeline>/<runId>/features.parquet`), which names the same object on every worker.
 *
 *   outward(result)  every absolute path under the home becomes its key, and the files behind it (a file, or every
 *                    file of a folder) are put in the store (skipped when the store already has those bytes)
 *   inward(args)     every key becomes this worker's path for it, and what the store holds under it (an object,
 *                    or every object under the prefix) is fetched through the content cache when missing locally
 *
 * `warehouse/` keys are never copied: a pipeline's DuckDB file lives on the worker of the warehouse queue, and
 * the warehouse is moved between machines by snapshot (see warehouse snapshot), not object by object.
 * `package/` keys name files of the installed funnelcast package (the bundled definitions and sample data): every
 * worker has them under its own install folder, so they are mapped, never copied.
 * Folders a deployment may move out of the home are named roots, each read from the worker's own setting, so a path
 * under one travels as a key and every worker resolves it under its own folder: FUNNELCAST_REGISTRY (`registry/…`),
 * FUNNELCAST_EXPORT_ROOT (`exports/…`) and FUNNELCAST_DATA_ROOT (`data/…`: source files, never copied, like the
 * package's). `definitions/<sha256>.json` holds a definition file handed in from outside every root (cli/edge.ts).
 *
 * On the local store (no FUNNELCAST_STORE: one machine, the home is the store) `store` is null: paths and keys are
 * only mapped, nothing is copied, and payloads still carry keys, so a history means the same on any machine.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, type BigIntStats } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { funnelcastHome } from '../infra/paths';
import { projectRoot } from '../infra/root';
import type { ContentCache } from './cache';
import { CountingStore } from './counting';
import { sha256Hex } from './local';
import type { ArtifactStore, ObjectInfo } from './types';

const KEY = /^(runs|registry|warehouse|exports|package|data|definitions)\/[^\0]+$/;
const LOCAL_ONLY = /^(warehouse|exports|package|data)\//;
const PACKAGE = 'package';
/** The named roots and the setting each worker names its own folder with (unset: the home's folder of that name). */
const ROOTS = {
  registry: 'FUNNELCAST_REGISTRY',
  exports: 'FUNNELCAST_EXPORT_ROOT',
  data: 'FUNNELCAST_DATA_ROOT',
} as const;
type RootName = keyof typeof ROOTS;
/**
 * Per-attempt scratch: claims, temps, locks, and training checkpoints (rewritten and removed while a concurrent
 * activity of the same run may be walking the folder). Never artifacts.
 */
const SCRATCH = /(\.attempt|\.lock|\.tmp-[^/]*|\.wal)$|\/\.tmp-|\/\.locks\/|\.checkpoint(\/|$)/;

export interface BoundaryStats {
  put: number;
  bytesPut: number;
  fetched: number;
  bytesFetched: number;
}

export class StoreBoundary {
  readonly stats: BoundaryStats = { put: 0, bytesPut: 0, fetched: 0, bytesFetched: 0 };

  constructor(
    /** Null on the local store: the home is the store, keys are only mapped. */
    readonly store: ArtifactStore | null,
    readonly cache: ContentCache | null,
    /** The worker's home, or how to find it when it is read (the local store follows FUNNELCAST_HOME as it is). */
    home: string | (() => string),
    /** The installed package's folder (bundled definitions and data), the same files on every worker. */
    readonly packageRoot: string = projectRoot(),
  ) {
    this.homeOf = typeof home === 'string' ? () => home : home;
  }

  private readonly homeOf: () => string;
  /** Per key: the bytes this process last put or fetched, and the local file's stat then (putOne, holdsLocally). */
  private readonly known = new Map<string, Known>();

  get home(): string {
    return this.homeOf();
  }

  isKey(s: string): boolean {
    return KEY.test(s) && !s.split('/').includes('..');
  }

  /**
   * Where keys start on this worker: the home (its relative paths are keys), each named root that is set, and the
   * package. Read when used: the settings may change after the boundary is built (tests, the local store's CLI).
   */
  private roots(): { prefix: string; dir: string }[] {
    const named = (Object.keys(ROOTS) as RootName[]).flatMap((prefix) => {
      const dir = process.env[ROOTS[prefix]];
      return dir ? [{ prefix, dir: resolve(dir) }] : [];
    });
    return [{ prefix: '', dir: this.home }, ...named, { prefix: PACKAGE, dir: this.packageRoot }];
  }

  /**
   * The key of a path under the home, a named root or the package; null for any other string. Roots may nest (the
   * default home ./.funnelcast lies inside the package folder; a registry may lie inside the home): the innermost
   * root that holds the path names it.
   */
  keyOf(path: string): string | null {
    if (!isAbsolute(path)) return null;
    let best: { prefix: string; dir: string } | null = null;
    for (const r of this.roots()) {
      const inside = path.startsWith(r.dir + sep) || (path === r.dir && r.prefix !== '');
      if (inside && (!best || r.dir.length > best.dir.length)) best = r;
    }
    if (!best) return null;
    return [best.prefix, ...relative(best.dir, path).split(sep)].filter(Boolean).join('/');
  }

  localPath(key: string): string {
    const [first, ...rest] = key.split('/');
    if (first === PACKAGE) return join(this.packageRoot, ...rest);
    if (first && first in ROOTS) {
      const setting = ROOTS[first as RootName];
      const dir = process.env[setting];
      if (dir) return join(resolve(dir), ...rest);
      if (first === 'data')
        throw new Error(
          `${key} names a file under the data root, and this worker has no ${setting}: set it to this machine's ` +
            `folder holding the same data as the client's ${setting} (docs/deploy.md)`,
        );
    }
    return join(this.home, first!, ...rest);
  }

  /**
   * This worker's paths inside a sentence (an error message, a stack trace) → keys: a path under the home, a named
   * root or the package becomes its key, one in the content cache `cache/sha256/<hex>`; any other text stays.
   * A path ends at a space, a quote, a bracket, a comma, a semicolon or a colon (`file.js:12:5` in a stack).
   */
  keysInText(text: string): string {
    return text.replace(/\/[^\s'"`()[\]{}<>,;:]+/g, (path) => {
      const trail = /[.]+$/.exec(path)?.[0] ?? ''; // the full stop of a sentence is not part of the path
      const bare = path.slice(0, path.length - trail.length);
      if (bare === this.home) return `<home>${trail}`;
      const key = this.keyOf(bare) ?? this.cacheKeyOf(bare);
      return key === null ? path : key + trail;
    });
  }

  /** `cache/<path in the cache>` for a path in this worker's content cache wherever FUNNELCAST_CACHE puts it. */
  private cacheKeyOf(path: string): string | null {
    const dir = this.cache ? resolve(this.cache.dir) : null;
    if (!dir || !(path === dir || path.startsWith(dir + sep))) return null;
    return ['cache', ...relative(dir, path).split(sep)].filter(Boolean).join('/');
  }

  /** Keys → this worker's paths, without fetching anything (what people are shown at the edge). */
  resolve<T>(value: T): T {
    return mapStrings(value, (s) => (this.isKey(s) ? this.localPath(s) : s)) as T;
  }

  /** Paths → keys, without putting anything (inputs named at the edge, e.g. a bundled definition). */
  keys<T>(value: T): T {
    return mapStrings(value, (s) => this.keyOf(s) ?? s) as T;
  }

  /** Paths → keys in a result, putting the files behind each path in the store. */
  async outward<T>(value: T): Promise<T> {
    const seen = new Set<string>();
    const out = mapStrings(value, (s) => {
      const key = this.keyOf(s);
      if (key === null) return s;
      seen.add(key);
      return key;
    });
    for (const key of seen) await this.putPath(key);
    return out as T;
  }

  /**
   * Keys → this worker's paths in arguments, fetching what the store holds under each key, except the `writeOnly`
   * ones (folders the step only writes into: mapped, not fetched).
   */
  async inward<T>(value: T, writeOnly: ReadonlySet<string> = new Set()): Promise<T> {
    const keys = new Set<string>();
    const out = mapStrings(value, (s) => {
      if (!this.isKey(s)) return s;
      if (!writeOnly.has(s)) keys.add(s);
      return this.localPath(s);
    });
    for (const key of keys) await this.fetchKey(key);
    return out as T;
  }

  /**
   * Puts every artifact file under a key (a file, or a folder walked recursively) the store lacks. A file this
   * process already put or fetched and that has not changed since (same size, mtime and inode) is skipped without
   * reading it: after each activity the run folders it was handed are walked again, and re-hashing every file of
   * a run (and asking the store about each) after every step was most of what the store cost.
   */
  async putPath(key: string): Promise<void> {
    if (!this.store || !this.cache || LOCAL_ONLY.test(key)) return;
    const path = this.localPath(key);
    if (!existsSync(path)) return;
    const files = statSync(path).isDirectory() ? walk(path) : [path];
    for (const file of files) {
      const k = this.keyOf(file)!;
      if (!SCRATCH.test(k)) await this.putOne(k, file);
    }
  }

  private async putOne(key: string, file: string): Promise<void> {
    const st = statSync(file, { bigint: true, throwIfNoEntry: false });
    if (!st) return; // removed since the walk (a concurrent attempt's temp): nothing to hand on
    const known = this.known.get(key);
    if (known && sameFile(known, st)) return;
    const body = readIfStill(file);
    if (!body) return;
    const sha = this.hash(body);
    if (known?.sha === sha) return void this.known.set(key, { ...stamp(st, sha), etag: known.etag });
    // Known with other bytes: this process changed it, so the store lacks these; unknown: ask the store.
    const stored = known ? null : await this.store!.head(key);
    let etag = stored?.etag ?? '';
    if (stored?.sha256 !== sha) {
      etag = (await this.store!.put(key, body)).etag;
      this.cache!.remember(body);
      this.stats.put++;
      this.stats.bytesPut += body.length;
    }
    this.known.set(key, { ...stamp(st, sha), etag });
  }

  private hash(body: Buffer): string {
    if (this.store instanceof CountingStore) {
      const s = this.store.here();
      s.hashed++;
      s.bytesHashed += body.length;
    }
    return sha256Hex(body);
  }

  /** Puts one file under a key of the caller's choosing (no check of where it is): counted like the others. */
  async putFile(key: string, file: string): Promise<void> {
    if (!this.store) return;
    const body = readIfStill(file);
    if (!body) return; // removed since it was listed: nothing to hand on
    await this.store.put(key, body);
    this.stats.put++;
    this.stats.bytesPut += body.length;
  }

  /**
   * Makes this worker's copy of `key` (an object, or every object under it) hold the store's bytes. A folder is
   * listed with ETags: an object whose ETag is the one this process put or fetched, and whose local copy is
   * unchanged since, is not asked about again.
   */
  async fetchKey(key: string): Promise<void> {
    if (!this.store || !this.cache || LOCAL_ONLY.test(key)) return;
    const single = await this.store.head(key);
    const listed = single ? [single] : await this.store.listInfo(`${key}/`);
    for (const o of listed) {
      const local = this.localPath(o.key);
      const known = this.known.get(o.key);
      if (known?.etag && known.etag === o.etag && sameFile(known, statSync(local, STAT))) continue;
      const info = single ?? (await this.store.head(o.key));
      if (!info) continue; // deleted since the listing
      if (info.sha256 && this.holdsLocally(o.key, local, info)) continue;
      const cached = await this.cache.fetch(this.store, o.key, info);
      mkdirSync(dirname(local), { recursive: true });
      copyFileSync(cached.path, local);
      const sha = info.sha256 ?? basename(cached.path);
      this.known.set(o.key, { ...stamp(statSync(local, STAT)!, sha), etag: info.etag });
      this.stats.fetched++;
      this.stats.bytesFetched += cached.bytes;
    }
  }

  /** Whether this worker's file holds the object's bytes: known unchanged since it was put or fetched, or hashed now. */
  private holdsLocally(key: string, local: string, info: ObjectInfo): boolean {
    const st = statSync(local, STAT);
    if (!st) return false;
    const known = this.known.get(key);
    let sha = known && sameFile(known, st) ? known.sha : null;
    if (sha === null) {
      const body = readIfStill(local);
      if (!body) return false;
      sha = this.hash(body);
    }
    if (sha !== info.sha256) return false;
    this.known.set(key, { ...stamp(st, sha), etag: info.etag });
    return true;
  }
}

/** A file as this process last saw it in the store: its bytes' hash and the stat that says it is unchanged. */
interface Known {
  sha: string;
  /** The store's ETag for those bytes ('' when not known): a listing that shows another one means it changed. */
  etag: string;
  size: bigint;
  mtimeNs: bigint;
  ino: bigint;
}

const STAT = { bigint: true, throwIfNoEntry: false } as const;

const stamp = (st: BigIntStats, sha: string): Omit<Known, 'etag'> => ({
  sha,
  size: st.size,
  mtimeNs: st.mtimeNs,
  ino: st.ino,
});

function sameFile(k: Known, st: BigIntStats | undefined): boolean {
  return !!st && k.size === st.size && k.mtimeNs === st.mtimeNs && k.ino === st.ino;
}

function walk(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names.flatMap((name) => {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    return !st ? [] : st.isDirectory() ? walk(p) : [p];
  });
}

function readIfStill(file: string): Buffer | null {
  try {
    return readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** A copy of a JSON-like value with every string passed through `f` (payloads are plain JSON). */
export function mapStrings(value: unknown, f: (s: string) => string): unknown {
  if (typeof value === 'string') return f(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f));
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, f)]));
  return value;
}

/** Paths of this machine (its home, the package) → keys: for records other workers read, such as a run's run.json. */
export function keysOnThisMachine<T>(value: T): T {
  return new StoreBoundary(null, null, funnelcastHome).keys(value);
}
