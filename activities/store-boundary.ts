/**
 * The activities as workers that share only Temporal and the artifact store see them: each activity's arguments
 * arrive with keys, which become this worker's paths (fetched into its home from the store when FUNNELCAST_STORE is
 * set); its result leaves with keys, and with a store the files behind them (and everything new in the run folders
 * it was given) are put in the store first. So no payload carries a path of one machine, and any worker can take
 * any step. Without FUNNELCAST_STORE (one machine, the home is the store) the same keys cross Temporal and are only
 * mapped: a history, a summary or a rerun means the same wherever it is read, and nothing is copied.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Context } from '@temporalio/activity';
import { join } from 'node:path';
import { funnelcastHome } from '../infra/paths';
import { openCache, sharedStore, StoreBoundary } from '../store';
import { CountingStore } from '../store/counting';

type Activity = (...args: never[]) => Promise<unknown>;

let boundary: { store: CountingStore; cache: string; home: string; b: StoreBoundary } | null = null;

/**
 * This process's (or thread's) boundary. With a store it is one instance, so the activities, the training
 * checkpoints and the registry count into the same per-step rows and share what this process knows it put.
 */
export function boundaryFromEnv(): StoreBoundary {
  const store = sharedStore();
  if (!store) return new StoreBoundary(null, null, funnelcastHome);
  const [cache, home] = [process.env.FUNNELCAST_CACHE ?? '', funnelcastHome()];
  if (boundary?.store !== store || boundary.cache !== cache || boundary.home !== home)
    boundary = { store, cache, home, b: new StoreBoundary(store, openCache(), home) };
  return boundary.b;
}

export function withStore<T extends Record<string, Activity>>(activities: T, boundary = boundaryFromEnv()): T {
  const wrapped: Record<string, Activity> = {};
  const counting = boundary.store instanceof CountingStore ? boundary.store : null;
  for (const [name, fn] of Object.entries(activities)) {
    const step = async (...args: never[]) => {
      const stats = counting?.here();
      if (stats) stats.calls++;
      let t0 = performance.now();
      try {
        const local = (await boundary.inward(args, writeOnlyKeys(name, args, boundary))) as never[];
        const inSeconds = (performance.now() - t0) / 1000;
        const result = await fn(...local);
        t0 = performance.now();
        // Folders handed in (a run folder, a version folder) hold outputs the result may not name: put them too.
        for (const a of args) for (const key of keysIn(a, boundary)) await boundary.putPath(key);
        const out = await boundary.outward(result);
        if (stats) stats.boundarySeconds += inSeconds + (performance.now() - t0) / 1000;
        recordStats(boundary, counting);
        return out;
      } catch (e) {
        throw withKeysInError(e, boundary, name);
      }
    };
    wrapped[name] = counting ? (...args: never[]) => counting.countingAs(name, () => step(...args)) : step;
  }
  return wrapped as T;
}

/**
 * Folders a step is handed only to write into, by the argument field that names them: not fetched whole before it
 * runs. A training fold is handed its run folder to write its model there; fetching the folder brought every file
 * of the run to each training worker (both feature tables, every other fold's model and predictions: 147 of the
 * 153 MB the 3-worker bench fetched at 1 M), while the fold reads only its own inputs, which come by their own
 * keys. What it writes is put after it, as for any folder handed in. (A fold's finished result is reused only on
 * the worker that wrote it; another worker trains it again, to the same bytes.)
 */
const WRITE_ONLY: Readonly<Record<string, readonly string[]>> = { trainModel: ['runDir'] };

function writeOnlyKeys(step: string, args: unknown[], b: StoreBoundary): Set<string> {
  const first = args[0] as Record<string, unknown> | undefined;
  const fields = WRITE_ONLY[step] ?? [];
  return new Set(fields.map((f) => first?.[f]).filter((v): v is string => typeof v === 'string' && b.isKey(v)));
}

/**
 * An error leaving an activity becomes a failure in the workflow's history, which every machine reads: this worker's
 * paths in its message and stack (a DuckDB error quoting a temp file, an ENOENT of a cache entry), and in its
 * causes', become keys, as in every other payload. The worker's log keeps the error as it was raised.
 */
export function withKeysInError(e: unknown, boundary: StoreBoundary, step: string): unknown {
  if (!(e instanceof Error)) return e;
  const original = e.stack ?? `${e.name}: ${e.message}`;
  let changed = false;
  const seen = new Set<Error>();
  for (let err: unknown = e; err instanceof Error && !seen.has(err); err = err.cause) {
    seen.add(err);
    const message = boundary.keysInText(err.message);
    const stack = err.stack === undefined ? undefined : boundary.keysInText(err.stack);
    changed ||= message !== err.message || stack !== err.stack;
    err.message = message;
    err.stack = stack;
  }
  if (changed) logOnThisWorker(`${step} failed (as raised on this worker): ${original}`);
  return e;
}

function logOnThisWorker(message: string): void {
  try {
    Context.current().log.warn(message);
  } catch {
    console.error(message); // called outside an activity (a test of the adapter alone)
  }
}

/**
 * FUNNELCAST_STORE_STATS=<dir>: this process's traffic through the store, in total and per step, rewritten after
 * each activity (the bench reads it).
 */
function recordStats(boundary: StoreBoundary, counting: CountingStore | null): void {
  const dir = process.env.FUNNELCAST_STORE_STATS;
  if (!dir || !boundary.store) return;
  mkdirSync(dir, { recursive: true });
  const steps = counting ? Object.fromEntries(counting.steps) : {};
  writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify({ ...boundary.stats, steps }));
}

function keysIn(value: unknown, b: StoreBoundary): string[] {
  const keys: string[] = [];
  JSON.stringify(value ?? null, (_k, v: unknown) => {
    if (typeof v === 'string' && b.isKey(v)) keys.push(v);
    return v;
  });
  return keys;
}
