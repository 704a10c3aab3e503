/**
 * Every activity the worker registers. Activities are thin: heartbeat, react to cancellation, call the pure
 * core, return references. `createActivities` is the one place dependencies would be injected (worker.ts calls
 * it); workflows only see `Activities` as a type.
 */
import { loadDefinition, resolveCutoff, resolveRuns } from './definition';
import { extractSources } from './extract';
import { buildFeatures } from './features';
import { fitCustomerValue } from './clv';
import { summariseFolds, trainModel } from './train';
import { publishModel } from './publish';
import { scoreUsers } from './score';
import { buildSegments } from './segments';
import { finishRun } from './finish';
import { deliverToBucket, deliverToWebhook } from './deliver';
import { findCompletedRuns } from './runs';
import { withFaults } from './faults';

export function createActivities() {
  const activities = {
    loadDefinition,
    extractSources,
    resolveCutoff,
    resolveRuns,
    buildFeatures,
    fitCustomerValue,
    trainModel,
    summariseFolds,
    publishModel,
    scoreUsers,
    buildSegments,
    finishRun,
    deliverToWebhook,
    deliverToBucket,
    findCompletedRuns,
  };
  // Reliability tests inject failures through FUNNELCAST_FAULTS; production workers never set it.
  return process.env.FUNNELCAST_FAULTS ? withFaults(activities) : activities;
}

export type Activities = ReturnType<typeof createActivities>;
