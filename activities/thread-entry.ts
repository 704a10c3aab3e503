/** The worker-thread side of activities/offthread.ts: runs one activity body with a thread activity context. */
import { serveThread } from '../infra/threads';
import { useThreadContext } from './context';
import type { ActivityThreadJob } from './offthread';
import { scoreUsers } from './score';
import { summariseFolds, trainModel } from './train';
import { publishModel } from './publish';
import { nextBestAction, trainUplift } from './uplift';
import { checkDrift, checkScoreDrift } from './drift';

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
  return (bodies[job.body] as (input: unknown) => Promise<unknown>)(job.input);
});
