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
import { checkDrift, checkScoreDrift, recordAcceptedDrift } from './drift';
import { scoreUsers } from './score';
import { buildSegments } from './segments';
import { finishRun } from './finish';
import { deliverToBucket, deliverToWebhook } from './deliver';
import { findCompletedRuns } from './runs';
import { prepareRerun } from './rerun';
import { measureCampaigns } from './measure';
import { forecastUplift, nextBestAction, trainUplift } from './uplift';
import { withFaults } from './faults';
import { alwaysThread, offThread, publishingIsolation, scoringIsolation, trainingIsolation } from './offthread';
import { withStore } from './store-boundary';

/**
 * The CPU-heavy activities: the worker serves them on their own task queue (`<queue>-cpu`) with a concurrency
 * limit from the cores and the memory budget (worker.ts), and the workflows route them there.
 */
export const CPU_ACTIVITIES = ['trainModel', 'scoreUsers', 'buildSegments'] as const;

export function createActivities() {
  const activities = {
    loadDefinition,
    extractSources,
    resolveCutoff,
    resolveRuns,
    buildFeatures,
    fitCustomerValue,
    // Two training tables (or two score lists) read and a PSI per column, each a sort of millions: on a thread, or
    // every scheduled retrain blocks the worker (5.9 s at 1 M training rows; 2 × 2 M scores 3.7 s).
    checkDrift: offThread('checkDrift', checkDrift, alwaysThread),
    checkScoreDrift: offThread('checkScoreDrift', checkScoreDrift, alwaysThread),
    recordAcceptedDrift,
    // Their bodies run on worker threads (activities/offthread.ts): the main thread only waits and heartbeats.
    trainModel: offThread('trainModel', trainModel, trainingIsolation),
    summariseFolds: offThread('summariseFolds', summariseFolds, alwaysThread),
    publishModel: offThread('publishModel', publishModel, publishingIsolation),
    scoreUsers: offThread('scoreUsers', scoreUsers, scoringIsolation),
    buildSegments,
    finishRun,
    deliverToWebhook,
    deliverToBucket,
    findCompletedRuns,
    prepareRerun,
    measureCampaigns,
    // Forests and a tree search: off the main thread too, so heartbeats keep flowing on large sends.
    trainUplift: offThread('trainUplift', trainUplift, alwaysThread),
    forecastUplift,
    nextBestAction: offThread('nextBestAction', nextBestAction, alwaysThread),
  };
  // Reliability tests inject failures through FUNNELCAST_FAULTS; production workers never set it.
  // With FUNNELCAST_STORE, payloads carry store keys and each worker fetches and puts the files (store-boundary.ts).
  return withStore(process.env.FUNNELCAST_FAULTS ? withFaults(activities) : activities);
}

export type Activities = ReturnType<typeof createActivities>;
