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

serveThread((job: ActivityThreadJob, t) => {
  useThreadContext({ info: job.info, heartbeat: t.progress, signal: t.signal });
  // Feature tables come from the process when another thread read them already (warehouse/binned-share).
  borrowTablesFrom((q: TableQuestion) => t.ask(q) as Promise<TableAnswer>);
  return (bodies[job.body] as (input: unknown) => Promise<unknown>)(job.input);
});
