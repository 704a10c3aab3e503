/**
 * The uplift steps of a run (lift/pipeline-uplift.ts, lift/forecast.ts): before scoring, train an uplift model per
 * campaign that ranks by uplift from its measured sends and score every user at the cutoff; after the lists are
 * made, predict what each such list adds. Thin adapters returning references and small figures.
 */
import { dirname } from 'node:path';
import type { LoadedPipeline } from '../pipelines/load';
import { paths } from '../infra/paths';
import { withDuckDB } from '../warehouse/db';
import { trainRunUplift, type RunUplift } from '../lift/pipeline-uplift';
import { forecastUplift as forecast, type UpliftForecast } from '../lift/forecast';
import { nextBestActions, type NextBestActions } from '../lift/next-best-action';
import { failFastOnBadInput, withHeartbeat } from './context';

export async function trainUplift(input: {
  loaded: LoadedPipeline;
  runId: string;
  runDir: string;
  featuresPath: string;
}): Promise<RunUplift | null> {
  return failFastOnBadInput(() => {
    const def = input.loaded.definition;
    if (!def.campaigns.some((c) => c.rankBy === 'uplift')) return Promise.resolve(null);
    // The warehouse's events give the sends' outcomes in their windows.
    return withHeartbeat(
      withDuckDB(paths.warehouse(def.name), (conn) =>
        trainRunUplift(conn, {
          def,
          runId: input.runId,
          runDir: input.runDir,
          runsDir: dirname(input.runDir),
          featuresPath: input.featuresPath,
        }),
      ),
      () => ({ step: 'uplift' }),
    );
  });
}

export async function forecastUplift(input: {
  loaded: LoadedPipeline;
  runDir: string;
  uplift: RunUplift;
}): Promise<UpliftForecast[]> {
  return failFastOnBadInput(() =>
    withDuckDB(':memory:', (conn) =>
      forecast(conn, { def: input.loaded.definition, runDir: input.runDir, uplift: input.uplift }),
    ),
  );
}

/** The next best action per segment from the measured sends of two or more campaigns (null: fewer). */
export async function nextBestAction(input: {
  loaded: LoadedPipeline;
  runId: string;
  runDir: string;
}): Promise<NextBestActions | null> {
  const def = input.loaded.definition;
  return withHeartbeat(
    withDuckDB(paths.warehouse(def.name), (conn) =>
      nextBestActions(conn, { def, runId: input.runId, runDir: input.runDir, runsDir: dirname(input.runDir) }),
    ),
    () => ({ step: 'next-best-action' }),
  );
}
