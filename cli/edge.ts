/**
 * The CLI's edge between keys and people. Payloads carry store keys (`runs/<pipeline>/<run>/scores.parquet`,
 * `package/pipelines/sample.json`), never this machine's paths: what the CLI sends a workflow is made portable
 * here, and what it prints is resolved here. On the local store a key is shown as the absolute path of its file in
 * this home (`--json` prints absolute paths); with FUNNELCAST_STORE the files are in the store, not necessarily on
 * this machine, so the keys are shown as they are.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute } from 'node:path';
import { funnelcastHome } from '../infra/paths';
import { loadPipeline, sourcePaths, type LoadedPipeline } from '../pipelines/load';
import { mapStrings, openStore, sha256Hex, StoreBoundary } from '../store';

const local = () => new StoreBoundary(null, null, funnelcastHome);

/**
 * A key inside a sentence (a failure or drift message: "… charts in runs/<p>/<run>/drift.html). …"): it starts
 * after a space, a quote or a bracket, and ends before one, or before the sentence's own punctuation.
 */
const KEY_IN_TEXT =
  /(^|[\s("'])((?:runs|registry|warehouse|exports|package|data|definitions)\/[^\s()"'<>,;]*[^\s()"'<>,;.:])/g;

/**
 * What a person is shown: keys become this home's absolute paths on the local store, whole strings and keys inside
 * messages alike. With FUNNELCAST_STORE the files are in the store, and the keys are what names them.
 */
export function forPeople<T>(value: T): T {
  if (process.env.FUNNELCAST_STORE) return value;
  const b = local();
  const path = (key: string): string => {
    if (!b.isKey(key)) return key;
    try {
      return b.localPath(key);
    } catch {
      return key; // a data key on a machine without FUNNELCAST_DATA_ROOT: the key is all it can show
    }
  };
  return mapStrings(value, (s) =>
    b.isKey(s) ? path(s) : s.replace(KEY_IN_TEXT, (_m, before: string, key: string) => before + path(key)),
  ) as T;
}

/** What is sent to a workflow: paths under this home or in the installed package become keys. */
export function portable<T>(value: T): T {
  return local().keys(value);
}

/** Keys → paths under another home (a worker process of a test, whose home is not this process's). */
export function resolveIn(home: string): <T>(value: T) => T {
  const b = new StoreBoundary(null, null, home);
  return (value) => b.resolve(value);
}

/** How a workflow is told which definition to run: a key for its file, and where its relative sources are read. */
export interface PortableDefinition {
  pipeline: string;
  sourcesDir?: string;
}

/**
 * What a rerun of a run whose definition travelled by content (`definitions/<sha256>.json`) is to read: the file it
 * was started from, as it is now, when this machine started it and the file is still there (an edited definition
 * is an input that changed, as for a definition under the home); else null, and the run's own copy is used.
 */
export async function definitionNow(key: string): Promise<PortableDefinition | null> {
  const m = /^definitions\/([0-9a-f]{64})\.json$/.exec(key);
  const origin = m && local().localPath(`definitions/${m[1]}.origin`);
  if (!origin || !existsSync(origin)) return null;
  const file = readFileSync(origin, 'utf8');
  return existsSync(file) ? portableDefinition(loadPipeline(file)) : null;
}

/**
 * A definition file under this home or in the package travels as its key: every worker has it there. Any other (`funnelcast run --pipeline ./my.json` in a project folder) travels by content: its
 * bytes go to `definitions/<sha256>.json` in the store (this home on the local store), which any worker fetches.
 * Its relative source paths stay relative to the folder it was written in, sent as `sourcesDir`: a key when that
 * folder lies under a named root (each warehouse worker reads it under its own FUNNELCAST_DATA_ROOT), else the
 * absolute folder, which the warehouse worker must then be able to read at that path (docs/deploy.md).
 */
export async function portableDefinition(loaded: LoadedPipeline): Promise<PortableDefinition> {
  const b = local();
  const key = b.keyOf(loaded.file);
  // Under the data root too it goes by content: each worker's copy of the data is read, but the definition is this one.
  if (key && b.isKey(key) && !key.startsWith('data/')) return { pipeline: key };
  const bytes = readFileSync(loaded.file);
  if (sha256Hex(bytes) !== loaded.hash)
    throw new Error(`${loaded.file} changed while the run was being started: start it again`);
  const content = `definitions/${loaded.hash}.json`;
  const copy = b.localPath(content);
  if (!existsSync(copy)) {
    mkdirSync(dirname(copy), { recursive: true });
    writeFileSync(copy, bytes);
  }
  // Where it came from, on this machine only (never in a payload): a rerun started here re-reads that file.
  writeFileSync(b.localPath(`definitions/${loaded.hash}.origin`), loaded.file);
  if (process.env.FUNNELCAST_STORE) {
    const store = openStore();
    try {
      if ((await store.head(content))?.sha256 !== loaded.hash) await store.put(content, bytes);
    } finally {
      store.close();
    }
  }
  if (sourcePaths(loaded.definition).every((p) => isAbsolute(p))) return { pipeline: content };
  const dir = b.keyOf(loaded.baseDir);
  return { pipeline: content, sourcesDir: dir && b.isKey(dir) ? dir : loaded.baseDir };
}
