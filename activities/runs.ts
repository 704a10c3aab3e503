import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { paths } from '../infra/paths';
import type { RunSummary } from '../workflows/types';

/** run.json is written last by finishRun: its presence marks a finished run (used to skip and return runs). */
export const RUN_FILE = 'run.json';

/**
 * The finished runs among `runIds` (content-addressed: a run of another definition, engine or data at the same
 * cutoff has another id, so it is never taken for this one).
 */
export async function findCompletedRuns(input: {
  pipeline: string;
  runIds: string[];
}): Promise<Record<string, RunSummary>> {
  const done: Record<string, RunSummary> = {};
  for (const runId of input.runIds) {
    const file = join(paths.runDir(input.pipeline, runId), RUN_FILE);
    if (existsSync(file)) done[runId] = JSON.parse(readFileSync(file, 'utf8')) as RunSummary;
  }
  return done;
}
