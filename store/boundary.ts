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
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import type { ContentCache } from './cache';
import { sha256Hex } from './local';
import type { ArtifactStore } from './types';

const KEY = /^(runs|registry|warehouse|exports)\/[^\0]+$/;
const LOCAL_ONLY = /^(warehouse|exports)\//;
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
    readonly store: ArtifactStore,
    readonly cache: ContentCache,
    readonly home: string,
  ) {}

  isKey(s: string): boolean {
    return KEY.test(s) && !s.split('/').includes('..');
  }

  keyOf(path: string): string | null {
    if (!isAbsolute(path) || !path.startsWith(this.home + sep)) return null;
    return relative(this.home, path).split(sep).join('/');
  }

  localPath(key: string): string {
    return join(this.home, ...key.split('/'));
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

  /** Keys → this worker's paths in arguments, fetching what the store holds under each key. */
  async inward<T>(value: T): Promise<T> {
    const keys = new Set<string>();
    const out = mapStrings(value, (s) => {
      if (!this.isKey(s)) return s;
      keys.add(s);
      return this.localPath(s);
    });
    for (const key of keys) await this.fetchKey(key);
    return out as T;
  }

  /** Puts every artifact file under a key (a file, or a folder walked recursively) the store lacks. */
  async putPath(key: string): Promise<void> {
    if (LOCAL_ONLY.test(key)) return;
    const path = this.localPath(key);
    if (!existsSync(path)) return;
    const files = statSync(path).isDirectory() ? walk(path) : [path];
    for (const file of files) {
      const k = this.keyOf(file)!;
      if (SCRATCH.test(k)) continue;
      const body = readIfStill(file);
      if (!body) continue; // removed since the walk (a concurrent attempt's temp): nothing to hand on
      const sha = sha256Hex(body);
      if ((await this.store.head(k))?.sha256 === sha) continue;
      await this.store.put(k, body);
      this.cache.remember(body);
      this.stats.put++;
      this.stats.bytesPut += body.length;
    }
  }

  /** Puts one file under a key of the caller's choosing (no check of where it is): counted like the others. */
  async putFile(key: string, file: string): Promise<void> {
    const body = readIfStill(file);
    if (!body) return; // removed since it was listed: nothing to hand on
    await this.store.put(key, body);
    this.stats.put++;
    this.stats.bytesPut += body.length;
  }

  /** Makes this worker's copy of `key` (an object, or every object under it) hold the store's bytes. */
  async fetchKey(key: string): Promise<void> {
    if (LOCAL_ONLY.test(key)) return;
    const single = await this.store.head(key);
    const keys = single ? [key] : await this.store.list(`${key}/`);
    for (const k of keys) {
      const local = this.localPath(k);
      const info = k === key && single ? single : await this.store.head(k);
      if (existsSync(local) && info?.sha256 && sha256Hex(readFileSync(local)) === info.sha256) continue;
      const before = this.cache.stats.bytesFetched;
      const cached = await this.cache.fetchFile(this.store, k);
      mkdirSync(dirname(local), { recursive: true });
      copyFileSync(cached, local);
      this.stats.fetched++;
      this.stats.bytesFetched += this.cache.stats.bytesFetched - before;
    }
  }
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
