/**
 * Every activity the worker registers. Activities are thin: heartbeat, react to cancellation, call the pure
 * core, return references. `createActivities` is the one place dependencies would be injected (worker.ts calls
 * it); workflows only see `Activities` as a type.
 */
import { loadDefinition, resolveCutoff } from './definition';
import { extractSources } from './extract';
import { buildFeatures } from './features';
import { summariseFolds, trainModel } from './train';
import { publishModel } from './publish';
import { scoreUsers } from './score';
import { buildSegments } from './segments';
import { finishRun } from './finish';
import { findCompletedRuns } from './runs';

export function createActivities() {
  return {
    loadDefinition,
    extractSources,
    resolveCutoff,
    buildFeatures,
    trainModel,
    summariseFolds,
    publishModel,
    scoreUsers,
    buildSegments,
    finishRun,
    findCompletedRuns,
  };
}

export type Activities = ReturnType<typeof createActivities>;
