import { loadPipeline, type LoadedPipeline } from '../pipelines/load';
import { paths, runIdFor } from '../infra/paths';
import { durationMs } from '../pipelines/schema';
import { withDuckDB } from '../warehouse/db';
import { defaultCutoff } from '../warehouse/features';
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
  runId: string;
  runDir: string;
}

/** The run's cutoff (given, scheduled, or the pipeline default) and its stable run id and folder. */
export async function resolveCutoff(input: { loaded: LoadedPipeline; cutoff?: string }): Promise<ResolvedRun> {
  return failFastOnBadInput(async () => {
    const def = input.loaded.definition;
    let cutoff: Date;
    if (input.cutoff) {
      cutoff = new Date(input.cutoff);
      if (Number.isNaN(cutoff.getTime()))
        throw new InputError(`cutoff "${input.cutoff}" is not an ISO date (e.g. 2024-03-01 or 2024-03-01T00:00:00Z)`);
    } else {
      cutoff = await withDuckDB(paths.warehouse(def.name), (conn) => defaultCutoff(conn, def));
    }
    const iso = cutoff.toISOString();
    const runId = runIdFor(def.name, iso);
    const trainingCutoff = new Date(cutoff.getTime() - durationMs(def.label.horizon)).toISOString();
    return {
      cutoff: iso,
      trainingCutoff,
      horizonMs: durationMs(def.label.horizon),
      runId,
      runDir: paths.runDir(def.name, runId),
    };
  });
}
