/**
 * CPU-heavy activity bodies on worker threads. The activity function Temporal calls stays on the main thread, but
 * only waits: the body (reading the feature table into a matrix, training, metrics, scoring and reasons) runs on
 * a thread of its own (infra/threads), so the worker's event loop keeps answering workflow tasks and heartbeats
 * however long a step computes. Meanwhile this thread relays the body's heartbeats and repeats the last one every
 * second (the first before the first tree), and a cancellation aborts the body's signal and, if it has not
 * stopped within the grace period, terminates the thread: a cancelled attempt really stops.
 *
 * Bodies that use TensorFlow.js (the LSTM and blend engines, and scoring or publishing with a model that needs
 * sequences) run in a child process of their own instead: tfjs-node must be used from one thread only, and on the
 * main thread their synchronous kernels delayed heartbeats and cancellation by seconds (a cancel took 5.8 s).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { runInThread, ThreadError } from '../infra/threads';
import { openRegistry } from '../registry/open';
import type { ThreadActivityContext } from './context';
import { TableLender, type TableQuestion } from '../warehouse/binned-share';
import { IDLE_MS } from '../warehouse/binned';
import { memoryBudget } from '../infra/memory';
import { isStoreStepsMessage, sharedStore } from '../store';

export type ThreadBody =
  | 'trainModel'
  | 'scoreUsers'
  | 'publishModel'
  | 'summariseFolds'
  | 'trainUplift'
  | 'nextBestAction'
  | 'checkDrift'
  | 'checkScoreDrift';

export interface ActivityThreadJob {
  body: ThreadBody;
  input: unknown;
  info: ThreadActivityContext['info'];
}

// A cancellation reaches an activity only in the reply to a heartbeat: the body may report rarely (an LSTM epoch
// takes seconds), so the last details are repeated every second (the worker sends at most one per second anyway,
// maxHeartbeatThrottleInterval in worker.ts). At 5 s a cancel waited up to 5 s for the next heartbeat.
const KEEPALIVE_MS = 1_000;

// How long a cancelled body may take to stop on its own before its thread or process is ended. A body notices the
// abort only between units of work (trees, epochs), and one unit can take seconds (a depth-20 tree, or a backlog
// of finished trees being checkpointed): with the 5 s default a forest cancel took 5.4 s in CI. Ending it early
// loses nothing: attempts never share temporary files, and checkpoints are written atomically.
const CANCEL_GRACE_MS = 1_500;

/**
 * The worker process's binned feature tables, lent to the training threads (warehouse/binned-share): the folds and
 * the holdout forest of a run read the table once. At most half the memory budget is kept while idle.
 */
const lender = new TableLender(() => memoryBudget() / 2, IDLE_MS);
export const tableLender = () => lender;

/** A thread borrows tables; a child process (TensorFlow.js bodies) cannot share memory and reads its own. */
function answerFor(owner: object, isolation: Isolation) {
  return (q: unknown) => {
    // The body's store traffic, counted where it ran: into this process's per-step rows.
    if (isStoreStepsMessage(q)) return void sharedStore()?.merge(q.steps);
    const question = q as TableQuestion;
    if (isolation === 'thread') return lender.answer(owner, question);
    return question.kind === 'binnedTable' ? { read: true } : { stored: false };
  };
}

/** Where a body runs: a worker thread, or a child process when it uses TensorFlow.js (see the note above). */
export type Isolation = 'thread' | 'process';

/** `onMain` as an activity whose body runs where `isolation(input)` says (see the note above). */
export function offThread<I, O>(
  body: ThreadBody,
  onMain: (input: I) => Promise<O>,
  isolation: (input: I) => Isolation | Promise<Isolation>,
): (input: I) => Promise<O> {
  return async (input: I) => {
    if (process.env.FUNNELCAST_OFF_THREAD === '0') return onMain(input);
    const ctx = Context.current();
    const { attempt, activityId, activityType, workflowExecution, heartbeatDetails } = ctx.info;
    // Until the body reports, the previous attempt's details are repeated (where a retry resumes from).
    let last: unknown = heartbeatDetails;
    ctx.heartbeat(last);
    const keepalive = setInterval(() => ctx.heartbeat(last), KEEPALIVE_MS);
    const owner = {};
    try {
      const job: ActivityThreadJob = {
        body,
        input,
        info: { attempt, activityId, activityType, workflowExecution, heartbeatDetails },
      };
      const where = await isolation(input);
      return await runInThread<O, ActivityThreadJob>({
        file: join(__dirname, 'thread-entry.js'),
        input: job,
        isolation: where,
        onAsk: answerFor(owner, where),
        signal: ctx.cancellationSignal,
        graceMs: CANCEL_GRACE_MS,
        onProgress: (d) => {
          last = d;
          ctx.heartbeat(d);
        },
      });
    } catch (e) {
      if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
      throw fromThread(e);
    } finally {
      clearInterval(keepalive);
      lender.abandon(owner); // a table this body was reading and never handed over: whoever waits reads it
    }
  };
}

/** A body's ApplicationFailure (bad input: not retryable) crosses the thread as fields: rebuild it here. */
function fromThread(e: unknown): unknown {
  if (!(e instanceof ThreadError) || e.name !== 'ApplicationFailure') return e;
  const f = e.fields;
  return ApplicationFailure.create({
    message: e.message,
    type: typeof f.type === 'string' ? f.type : undefined,
    nonRetryable: f.nonRetryable === true,
  });
}

const tfjsEngine = (engine: string | undefined) => engine === 'lstm' || engine === 'blend';

/** The TensorFlow.js engines train in a process of their own. */
export const trainingIsolation = (input: { engine: string }): Isolation =>
  tfjsEngine(input.engine) ? 'process' : 'thread';

/** Scoring with a model that needs sequences (lstm, blend) runs in a process of its own. */
export const scoringIsolation = (input: { versionDir: string }): Isolation =>
  tabularModel(input.versionDir) ? 'thread' : 'process';

/** Publishing re-scores the champion on this run's holdout rows: in a process when the champion needs sequences. */
export async function publishingIsolation(input: { loaded: { definition: { name: string } } }): Promise<Isolation> {
  try {
    // Through the registry in the store when there is one: the champion may have moved by a publish on another
    // worker since this worker's copy was refreshed (and its model may be one this worker has never fetched).
    const registry = await openRegistry(input.loaded.definition.name);
    const champ = registry.champion();
    return !champ || tabularModel(registry.versionDir(champ.version)) ? 'thread' : 'process';
  } catch {
    return 'process'; // the body reports a broken registry itself
  }
}

export const alwaysThread = (): Isolation => 'thread';

/** Whether the model.json in `dir` is of a tabular engine, read from its first bytes (the engine comes first). */
function tabularModel(dir: string): boolean {
  let head = '';
  try {
    const fd = openSync(join(dir, 'model.json'), 'r');
    try {
      const buf = Buffer.alloc(512);
      head = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return false; // the body reports the missing model itself
  }
  const engine = /"engine"\s*:\s*"([^"]+)"/.exec(head)?.[1];
  return engine !== undefined && !tfjsEngine(engine);
}
