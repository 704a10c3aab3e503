import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { paths, runIdFor } from '../infra/paths';
import type { RunSummary } from '../workflows/types';

/** run.json is written last by finishRun: its presence marks a finished run (used by backfills to skip cutoffs). */
export const RUN_FILE = 'run.json';

export async function findCompletedRuns(input: {
  pipeline: string;
  cutoffs: string[];
}): Promise<Record<string, RunSummary>> {
  const done: Record<string, RunSummary> = {};
  for (const cutoff of input.cutoffs) {
    const file = join(paths.runDir(input.pipeline, runIdFor(input.pipeline, cutoff)), RUN_FILE);
    if (existsSync(file)) done[cutoff] = JSON.parse(readFileSync(file, 'utf8')) as RunSummary;
  }
  return done;
}
