import type { DuckDBConnection } from '@duckdb/node-api';
import { loadPipeline, type LoadedPipeline } from '../pipelines/load';
import { paths, runIdFor } from '../infra/paths';
import { resultCodeHash, runKey, type LoadedFile } from '../infra/run-key';
import { durationMs } from '../pipelines/schema';
import { withDuckDB } from '../warehouse/db';
import { defaultCutoff, trainingCutoffFor } from '../warehouse/features';
import { failFastOnBadInput, InputError } from './context';

export async function loadDefinition(input: { pipeline: string }): Promise<LoadedPipeline> {
  return failFastOnBadInput(async () => loadPipeline(input.pipeline));
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
}

/** The run's cutoff (given, scheduled, or the pipeline default) and its content-addressed run id and folder. */
export async function resolveCutoff(input: {
  loaded: LoadedPipeline;
  cutoff?: string;
  backtest?: boolean;
}): Promise<ResolvedRun> {
  return (await resolveRuns({ loaded: input.loaded, cutoffs: [input.cutoff], backtest: input.backtest }))[0];
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
}): Promise<ResolvedRun[]> {
  return failFastOnBadInput(async () => {
    const def = input.loaded.definition;
    const horizonMs = durationMs(def.label.horizon);
    return withDuckDB(paths.warehouse(def.name), async (conn) => {
      const files = await loadedFiles(conn);
      const runs: ResolvedRun[] = [];
      for (const given of input.cutoffs) {
        const cutoff = given ? parseCutoff(given) : await defaultCutoff(conn, def);
        const iso = cutoff.toISOString();
        const key = runKey({ definition: def, cutoff: iso, files, code: resultCodeHash(), backtest: input.backtest });
        const runId = runIdFor(def.name, iso, key);
        runs.push({
          cutoff: iso,
          trainingCutoff: (await trainingCutoffFor(conn, def, cutoff)).toISOString(),
          horizonMs,
          key,
          runId,
          runDir: paths.runDir(def.name, runId),
        });
      }
      return runs;
    });
  });
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
