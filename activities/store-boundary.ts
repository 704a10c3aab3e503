/**
 * The activities as workers that share only Temporal and the artifact store see them: each activity's arguments
 * arrive with keys, which become this worker's paths (fetched into its home from the store when FUNNELCAST_STORE is
 * set); its result leaves with keys, and with a store the files behind them (and everything new in the run folders
 * it was given) are put in the store first. So no payload carries a path of one machine, and any worker can take
 * any step. Without FUNNELCAST_STORE (one machine, the home is the store) the same keys cross Temporal and are only
 * mapped: a history, a summary or a rerun means the same wherever it is read, and nothing is copied.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { funnelcastHome } from '../infra/paths';
import { openCache, openStore, StoreBoundary } from '../store';

type Activity = (...args: never[]) => Promise<unknown>;

export function boundaryFromEnv(): StoreBoundary {
  if (!process.env.FUNNELCAST_STORE) return new StoreBoundary(null, null, funnelcastHome);
  return new StoreBoundary(openStore(), openCache(), funnelcastHome());
}

export function withStore<T extends Record<string, Activity>>(activities: T, boundary = boundaryFromEnv()): T {
  const wrapped: Record<string, Activity> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      const local = (await boundary.inward(args)) as never[];
      const result = await fn(...local);
      // Folders handed in (a run folder, a version folder) hold outputs the result may not name: put them too.
      for (const a of args) for (const key of keysIn(a, boundary)) await boundary.putPath(key);
      const out = await boundary.outward(result);
      recordStats(boundary);
      return out;
    };
  }
  return wrapped as T;
}

/** FUNNELCAST_STORE_STATS=<dir>: this process's bytes through the store, rewritten after each activity (the bench). */
function recordStats(boundary: StoreBoundary): void {
  const dir = process.env.FUNNELCAST_STORE_STATS;
  if (!dir || !boundary.store) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify(boundary.stats));
}

function keysIn(value: unknown, b: StoreBoundary): string[] {
  const keys: string[] = [];
  JSON.stringify(value ?? null, (_k, v: unknown) => {
    if (typeof v === 'string' && b.isKey(v)) keys.push(v);
    return v;
  });
  return keys;
}
