/** The worker-thread side of activities/offthread.ts: runs one activity body with a thread activity context. */
import { serveThread } from '../infra/threads';
import { useThreadContext } from './context';
import type { ActivityThreadJob } from './offthread';
import { scoreUsers } from './score';
import { summariseFolds, trainModel } from './train';
import { publishModel } from './publish';
import { nextBestAction, trainUplift } from './uplift';
import { checkDrift, checkScoreDrift } from './drift';
import { borrowTablesFrom } from '../warehouse/binned';
import type { TableAnswer, TableQuestion } from '../warehouse/binned-share';
import { sharedStore, type StoreStepsMessage } from '../store';

const bodies = {
  trainModel,
  scoreUsers,
  publishModel,
  summariseFolds,
  trainUplift,
  nextBestAction,
  checkDrift,
  checkScoreDrift,
} as const;

serveThread(async (job: ActivityThreadJob, t) => {
  useThreadContext({ info: job.info, heartbeat: t.progress, signal: t.signal });
  // Feature tables come from the process when another thread read them already (warehouse/binned-share).
  borrowTablesFrom((q: TableQuestion) => t.ask(q) as Promise<TableAnswer>);
  const body = () => (bodies[job.body] as (input: unknown) => Promise<unknown>)(job.input);
  const counting = sharedStore();
  if (!counting) return body();
  // The body's store calls (checkpoints, the registry) are counted here, under the activity's name, and handed to
  // the activity's process before the result, which adds them to its per-step rows (FUNNELCAST_STORE_STATS).
  try {
    return await counting.countingAs(job.body, body);
  } finally {
    const message: StoreStepsMessage = { kind: 'storeSteps', steps: Object.fromEntries(counting.steps) };
    counting.steps.clear();
    await t.ask(message).catch(() => undefined);
  }
});
