/**
 * The champion serve answers with, and the run whose lists it answers from, read through the artifact store when
 * FUNNELCAST_STORE is set: the champion pointer is the store's (a publish on any worker moves it, by
 * compare-and-swap there), and the finished runs' records (run.json, which carries keys) and the files serve reads
 * are fetched into this home. Without a store, this home is the store: its registry and run folders are read.
 *
 * With a store, each poll reads the champion pointer only (one GET of a small object). Listing the pipeline's run
 * records (every key under `runs/<pipeline>/`, thousands per run) happens when the pointer moved, while the champion
 * has no finished run that scored its lists yet (every 5 s), and otherwise every minute, for a later run that scored
 * its lists with the same champion (listingEvery). The files serve answers from are fetched when its run changes.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { funnelcastHome, paths } from '../infra/paths';
import { ModelRegistry } from '../registry';
import { StoreRegistry } from '../registry/store-registry';
import { openCache, openStore, readJson, StoreBoundary } from '../store';

export interface RunJson {
  runId: string;
  cutoff: string;
  segmentsPath?: string;
  publish?: { kind?: string; scoreWith?: { version: string } };
  exports?: { campaign: string; parquetPath: string }[];
}

let shared: { url: string; boundary: StoreBoundary } | null = null;

/** This process's boundary to the store named by FUNNELCAST_STORE (one client, kept), or the map-only local one. */
function boundary(): StoreBoundary {
  const url = process.env.FUNNELCAST_STORE;
  if (!url) return new StoreBoundary(null, null, funnelcastHome);
  if (shared?.url !== url) {
    shared?.boundary.store?.close();
    shared = { url, boundary: new StoreBoundary(openStore(url), openCache(), funnelcastHome) };
  }
  return shared.boundary;
}

/** How often run records are listed: with the champion's run found, and while it is not (tests shorten them). */
export const listingEvery = { foundMs: 60_000, pendingMs: 5_000 };
/** Per store and pipeline: the pointer's ETag as last read, and the last listing of run records (and what it found). */
const pointers = new Map<string, string>();
const listings = new Map<string, { pointer: string; at: number; found: boolean }>();
/** The run whose files were last fetched (they are immutable once its run.json is written). */
const served = new Map<string, string>();
const storeKey = (b: StoreBoundary, pipeline: string) => `${b.store!.url} ${pipeline}`;

/** The champion version, or null when the pipeline has none yet. */
export async function championVersion(pipeline: string, b: StoreBoundary = boundary()): Promise<string | null> {
  if (!b.store) return new ModelRegistry(paths.registry(pipeline)).champion()?.version ?? null;
  const got = await readJson<{ version: string }>(b.store, new StoreRegistry(b.store, pipeline).key('champion.json'));
  pointers.set(storeKey(b, pipeline), got?.etag ?? '');
  return got?.value.version ?? null;
}

/** The latest finished run that scored its lists with `version` (its run.json is written once the run finished). */
export async function runScoredWith(
  pipeline: string,
  version: string,
  b: StoreBoundary = boundary(),
): Promise<RunJson | null> {
  const listed = b.store ? await listRunRecordsWhenDue(b, pipeline, version) : null;
  const dir = paths.runDir(pipeline, '');
  if (!existsSync(dir)) return null;
  const runs = readdirSync(dir)
    .map((id) => join(dir, id, 'run.json'))
    .filter((f) => existsSync(f))
    // Keys (and the absolute paths of run.json files written before keys) become this home's paths.
    .map((f) => ({ run: b.resolve(JSON.parse(readFileSync(f, 'utf8')) as RunJson), mtime: statSync(f).mtimeMs }))
    .filter(
      ({ run }) =>
        run.publish?.scoreWith?.version === version &&
        run.segmentsPath &&
        (b.store !== null || existsSync(run.segmentsPath)),
    )
    .sort((a, b) => Date.parse(b.run.cutoff) - Date.parse(a.run.cutoff) || b.mtime - a.mtime);
  const run = runs[0]?.run ?? null;
  if (listed) listings.set(storeKey(b, pipeline), { ...listed, found: !!run });
  if (run && b.store && served.get(storeKey(b, pipeline)) !== run.runId) {
    await fetchServedFiles(b, run);
    served.set(storeKey(b, pipeline), run.runId);
  }
  return run;
}

/** Lists and fetches the run records when due (see the top of the file); returns the listing's facts, else null. */
async function listRunRecordsWhenDue(b: StoreBoundary, pipeline: string, version: string) {
  const at = storeKey(b, pipeline);
  const pointer = `${pointers.get(at) ?? ''} ${version}`;
  const last = listings.get(at);
  const every = last?.found ? listingEvery.foundMs : listingEvery.pendingMs;
  if (last && last.pointer === pointer && Date.now() - last.at < every) return null;
  await fetchRunRecords(b, pipeline);
  return { pointer, at: Date.now() };
}

/** Fetches the run.json of every finished run of the pipeline this home does not have yet. */
async function fetchRunRecords(b: StoreBoundary, pipeline: string): Promise<void> {
  const records = (await b.store!.list(`runs/${pipeline}/`)).filter((k) => /^runs\/[^/]+\/[^/]+\/run\.json$/.test(k));
  for (const key of records) if (!existsSync(b.localPath(key))) await b.fetchKey(key);
}

/** The files serve reads from a run: its segments (scores and reasons), its lists and its sequence vocabulary. */
async function fetchServedFiles(b: StoreBoundary, run: RunJson): Promise<void> {
  const files = [run.segmentsPath!, join(run.segmentsPath!, '..', 'features', 'sequences.vocab.json')];
  for (const e of run.exports ?? []) files.push(e.parquetPath);
  for (const f of files) {
    const key = b.keyOf(f);
    if (key) await b.fetchKey(key);
  }
}
