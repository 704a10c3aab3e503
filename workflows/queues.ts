/**
 * Where activities run, shared by the workflows and the worker (plain constants: safe in the workflow sandbox).
 * Four kinds of work, four task queues derived from the run's queue `<q>`:
 *
 *   <q>            workflows: light, never blocked behind activities
 *   <q>-io         short I/O steps (definitions, run bookkeeping, deliveries, the run's report)
 *   <q>-cpu        CPU-heavy training and scoring, with their own concurrency limit (worker.ts); any number of
 *                  training workers may join or leave
 *   <q>-warehouse  the steps that open the pipeline's DuckDB file: served by the worker that holds it
 *
 * `funnelcast worker --queues …` serves chosen kinds; `funnelcast up` and the default worker serve all four.
 */
export type QueueKind = 'workflows' | 'io' | 'cpu' | 'warehouse';
export const QUEUE_KINDS: readonly QueueKind[] = ['workflows', 'io', 'cpu', 'warehouse'];

export const queueFor = (taskQueue: string, kind: QueueKind) =>
  kind === 'workflows' ? taskQueue : `${taskQueue}-${kind}`;
export const cpuQueue = (taskQueue: string) => queueFor(taskQueue, 'cpu');

/** The kind of each activity that is not an I/O step (the default). */
const KIND: Record<string, QueueKind> = {
  trainModel: 'cpu',
  summariseFolds: 'cpu',
  scoreUsers: 'cpu',
  // These open the warehouse file (paths.warehouse / extract.database): one writer process per DuckDB file.
  extractSources: 'warehouse',
  resolveRuns: 'warehouse',
  buildFeatures: 'warehouse',
  fitCustomerValue: 'warehouse',
  buildSegments: 'warehouse',
  publishModel: 'warehouse',
  measureCampaigns: 'warehouse',
  // The measured sends' outcomes come from the warehouse's events.
  trainUplift: 'warehouse',
  nextBestAction: 'warehouse',
  // The report reads the warehouse's campaign history (activities/finish.ts).
  finishRun: 'warehouse',
};

export const activityKind = (name: string): QueueKind => KIND[name] ?? 'io';

/** `--queues workflows,cpu` → the kinds, refusing unknown names with the list of known ones. */
export function parseQueueKinds(spec: string): QueueKind[] {
  const kinds = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = kinds.filter((k) => !QUEUE_KINDS.includes(k as QueueKind));
  if (bad.length || kinds.length === 0)
    throw new Error(`--queues ${spec}: expected a comma-separated list of ${QUEUE_KINDS.join(', ')}`);
  return [...new Set(kinds)] as QueueKind[];
}

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
