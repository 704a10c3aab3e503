import type { DuckDBConnection } from '@duckdb/node-api';
import { loadPipeline, type LoadedPipeline } from '../pipelines/load';
import { paths, runIdFor } from '../infra/paths';
import { resultCodeHash, runKey, type LoadedFile } from '../infra/run-key';
import { durationMs } from '../pipelines/schema';
import { withDuckDB } from '../warehouse/db';
import { defaultCutoff, trainingCutoffFor } from '../warehouse/features';
import { failFastOnBadInput, InputError } from './context';

/**
 * `pipeline`: a bundled name, or the key of the definition file (`package/…`, `definitions/<sha256>.json`, …) as
 * this worker's path. `sourcesDir`: where its relative sources are read from when it came by content (cli/edge.ts).
 */
export async function loadDefinition(input: { pipeline: string; sourcesDir?: string }): Promise<LoadedPipeline> {
  return failFastOnBadInput(async () =>
    loadPipeline(input.pipeline, input.sourcesDir ? { baseDir: input.sourcesDir } : {}),
  );
}

export interface ResolvedRun {
  cutoff: string;
  /** One horizon before the cutoff: where a live run trains, because its labels have been observed. */
  trainingCutoff: string;
  /** For rolling time CV: the cutoffs k, k−1, …, 1 horizons before a training cutoff (oldest first). */
  horizonMs: number;
  /** The content key (infra/run-key.ts): definition, cutoff, warehouse contents and code version. */
  key: string;
  /** `<pipeline>-<cutoff>-<key>`: also the run's workflow id. */
  runId: string;
  runDir: string;
  /** How the cutoff was chosen (a scheduled run on the data's clock) and where the model trains when the data stops before the cutoff. */
  cutoffNote?: string | null;
}

/** The run's cutoff (given, scheduled, or the pipeline default) and its content-addressed run id and folder. */
export async function resolveCutoff(input: {
  loaded: LoadedPipeline;
  cutoff?: string;
  backtest?: boolean;
  /** The cutoff is a schedule's time: with `clock: "data"` the data's last complete day replaces it. */
  scheduled?: boolean;
}): Promise<ResolvedRun> {
  return (
    await resolveRuns({
      loaded: input.loaded,
      cutoffs: [input.cutoff],
      backtest: input.backtest,
      scheduled: input.scheduled,
    })
  )[0];
}

/**
 * One resolved run per cutoff (a backfill resolves all of its cutoffs at once). Call it after extraction: the key
 * covers what the warehouse holds now, which is what the run will read.
 */
export async function resolveRuns(input: {
  loaded: LoadedPipeline;
  cutoffs: (string | undefined)[];
  /** A backfill's runs: backtests, keyed apart from live runs of the same content (infra/run-key.ts). */
  backtest?: boolean;
  scheduled?: boolean;
}): Promise<ResolvedRun[]> {
  return failFastOnBadInput(async () => {
    const def = input.loaded.definition;
    const horizonMs = durationMs(def.label.horizon);
    return withDuckDB(paths.warehouse(def.name), async (conn) => {
      const files = await loadedFiles(conn);
      const runs: ResolvedRun[] = [];
      for (const given of input.cutoffs) {
        let cutoff = given ? parseCutoff(given) : await defaultCutoff(conn, def);
        let cutoffNote: string | null = null;
        if (given && input.scheduled && def.clock === 'data')
          ({ cutoff, note: cutoffNote } = await onDataClock(conn, cutoff));
        const iso = cutoff.toISOString();
        const key = runKey({ definition: def, cutoff: iso, files, code: resultCodeHash(), backtest: input.backtest });
        const runId = runIdFor(def.name, iso, key);
        const trainingCutoff = await trainingCutoffFor(conn, def, cutoff);
        const lag = await dataLagNote(conn, cutoff, trainingCutoff, def.label.horizon);
        if (lag) cutoffNote = cutoffNote ? `${cutoffNote}; ${lag}` : lag;
        runs.push({
          cutoff: iso,
          trainingCutoff: trainingCutoff.toISOString(),
          horizonMs,
          key,
          runId,
          runDir: paths.runDir(def.name, runId),
          cutoffNote,
        });
      }
      return runs;
    });
  });
}

const DAY_MS = 86_400_000;

/**
 * A scheduled time read on the data's clock (`clock: "data"`): the last complete day of the loaded events (the day
 * of the last event has not ended in the data), or the scheduled time when that is earlier. Data that stopped in
 * the past then behaves as live data: every scheduled run scores its users
 * at the end of the data, where their behaviour is, not years after it.
 */
async function onDataClock(conn: DuckDBConnection, scheduled: Date): Promise<{ cutoff: Date; note: string }> {
  const r = await conn.runAndReadAll(`SELECT epoch_ms(max(ts)) FROM events`);
  const last = r.getRows()[0]?.[0];
  if (last == null) throw new InputError("the warehouse has no events: a run on the data's clock needs some");
  const day = Math.floor(Number(last) / DAY_MS) * DAY_MS;
  const cutoff = new Date(Math.min(day, scheduled.getTime()));
  const note =
    `clock "data": scheduled at ${scheduled.toISOString()}; the data's last event is ${new Date(Number(last)).toISOString()}, ` +
    `so the cutoff is the end of its last complete day, ${cutoff.toISOString()}`;
  return { cutoff, note };
}

/**
 * When the data stops before the cutoff (a live feed lags the clock; a schedule on data that ended), the model
 * trains more than one horizon before the cutoff, at the last date whose outcomes the data has observed: said in
 * the run's summary, naming the data's last event, since "one horizon before the cutoff" would be wrong.
 */
async function dataLagNote(
  conn: DuckDBConnection,
  cutoff: Date,
  trainingCutoff: Date,
  horizon: string,
): Promise<string | null> {
  if (trainingCutoff.getTime() >= cutoff.getTime() - durationMs(horizon)) return null;
  const r = await conn.runAndReadAll(`SELECT epoch_ms(max(ts)) FROM events`);
  const last = r.getRows()[0]?.[0];
  if (last == null) return null;
  return (
    `the data's last event is ${new Date(Number(last)).toISOString()}, so outcomes are observed until ` +
    `${new Date(trainingCutoff.getTime() + durationMs(horizon)).toISOString()}: the model trains at ` +
    `${trainingCutoff.toISOString()}, one horizon (${horizon}) before that, and scores every user at the cutoff`
  );
}

function parseCutoff(given: string): Date {
  const cutoff = new Date(given);
  if (Number.isNaN(cutoff.getTime()))
    throw new InputError(`cutoff "${given}" is not an ISO date (e.g. 2024-03-01 or 2024-03-01T00:00:00Z)`);
  return cutoff;
}

/** Every file loaded into the warehouse, in load order (an appended file shows once per load, with its new hash). */
async function loadedFiles(conn: DuckDBConnection): Promise<LoadedFile[]> {
  const exists = await conn.runAndReadAll(
    `SELECT count(*) FROM information_schema.tables WHERE table_name = 'source_files'`,
  );
  if (Number(exists.getRows()[0][0]) === 0) return [];
  const r = await conn.runAndReadAll(
    `SELECT source, sha256, loaded FROM source_files ORDER BY loaded_at, source, file, last_line`,
  );
  return r.getRows().map(([source, sha256, loaded]) => ({
    source: String(source),
    sha256: String(sha256),
    loaded: Number(loaded),
  }));
}
