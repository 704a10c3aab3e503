/**
 * Where activities run, shared by the workflows and the worker (plain constants: safe in the workflow sandbox).
 * Workflows and I/O steps share the run's task queue; CPU-heavy steps go to `<queue>-cpu`, which the worker serves
 * with its own concurrency limit (worker.ts), so training never takes the slots the I/O steps and workflows need.
 */
export const cpuQueue = (taskQueue: string) => `${taskQueue}-cpu`;

/**
 * The field the worker adds to these activities' results: the worker's maximum event-loop delay (ms) while the
 * activity ran. The retrain workflow takes it off the result (downstream steps see the result as it was) and
 * records it per step in the run summary; `status` reads it from the history.
 */
export const EVENT_LOOP_FIELD = 'eventLoopDelayMaxMs';
export const MEASURED_ACTIVITIES = [
  'buildFeatures',
  'fitCustomerValue',
  'trainModel',
  'summariseFolds',
  'publishModel',
  'scoreUsers',
  'buildSegments',
  'finishRun',
];
