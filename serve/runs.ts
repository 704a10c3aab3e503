/**
 * The champion serve answers with, and the run whose lists it answers from, read through the artifact store when
 * FUNNELCAST_STORE is set: the champion pointer is the store's (a publish on any worker moves it, by
 * compare-and-swap there), and the finished runs' records (run.json, which carries keys) and the files serve reads
 * are fetched into this home. Without a store, this home is the store: its registry and run folders are read.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { funnelcastHome, paths } from '../infra/paths';
import { ModelRegistry } from '../registry';
import { StoreRegistry } from '../registry/store-registry';
import { openCache, openStore, StoreBoundary } from '../store';

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

/** The champion version, or null when the pipeline has none yet. */
export async function championVersion(pipeline: string): Promise<string | null> {
  const b = boundary();
  if (b.store) return (await new StoreRegistry(b.store, pipeline).champion())?.version ?? null;
  return new ModelRegistry(paths.registry(pipeline)).champion()?.version ?? null;
}

/** The latest finished run that scored its lists with `version` (its run.json is written once the run finished). */
export async function runScoredWith(pipeline: string, version: string): Promise<RunJson | null> {
  const b = boundary();
  if (b.store) await fetchRunRecords(b, pipeline);
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
  if (run && b.store) await fetchServedFiles(b, run);
  return run;
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
