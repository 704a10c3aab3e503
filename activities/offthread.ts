/**
 * CPU-heavy activity bodies on worker threads. The activity function Temporal calls stays on the main thread, but
 * only waits: the body (reading the feature table into a matrix, training, metrics, scoring and reasons) runs on
 * a thread of its own (infra/threads), so the worker's event loop keeps answering workflow tasks and heartbeats
 * however long a step computes. Meanwhile this thread relays the body's heartbeats and repeats the last one every
 * few seconds (the first before the first tree), and a cancellation aborts the body's signal and, if it has not
 * stopped within the grace period, terminates the thread: a cancelled attempt really stops.
 *
 * Bodies that use TensorFlow.js stay on the main thread (tfjs-node must be used from one thread only): the LSTM
 * and blend engines, and scoring with a model that needs sequences. They yield between batches.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { runInThread, ThreadError } from '../infra/threads';
import { paths } from '../infra/paths';
import { ModelRegistry } from '../registry';
import type { ThreadActivityContext } from './context';

export type ThreadBody = 'trainModel' | 'scoreUsers' | 'publishModel' | 'summariseFolds';

export interface ActivityThreadJob {
  body: ThreadBody;
  input: unknown;
  info: ThreadActivityContext['info'];
}

const KEEPALIVE_MS = 5_000;

/** `onMain` as an activity whose body runs on a worker thread when `wantsThread(input)` (see the note above). */
export function offThread<I, O>(
  body: ThreadBody,
  onMain: (input: I) => Promise<O>,
  wantsThread: (input: I) => boolean,
): (input: I) => Promise<O> {
  return async (input: I) => {
    if (process.env.FUNNELCAST_OFF_THREAD === '0' || !wantsThread(input)) return onMain(input);
    const ctx = Context.current();
    const { attempt, activityId, activityType, workflowExecution, heartbeatDetails } = ctx.info;
    // Until the body reports, the previous attempt's details are repeated (where a retry resumes from).
    let last: unknown = heartbeatDetails;
    ctx.heartbeat(last);
    const keepalive = setInterval(() => ctx.heartbeat(last), KEEPALIVE_MS);
    try {
      const job: ActivityThreadJob = {
        body,
        input,
        info: { attempt, activityId, activityType, workflowExecution, heartbeatDetails },
      };
      return await runInThread<O, ActivityThreadJob>({
        file: join(__dirname, 'thread-entry.js'),
        input: job,
        signal: ctx.cancellationSignal,
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

/** The TensorFlow.js engines: their training stays on the main thread. */
export const trainsOffThread = (input: { engine: string }) => input.engine !== 'lstm' && input.engine !== 'blend';

/** Scoring off the main thread unless the version's model needs sequences (lstm, blend). */
export const scoresOffThread = (input: { versionDir: string }) => tabularModel(input.versionDir);

/** Publishing re-scores the champion on this run's holdout rows: off the main thread unless it needs sequences. */
export function publishesOffThread(input: { loaded: { definition: { name: string } } }): boolean {
  try {
    const registry = new ModelRegistry(paths.registry(input.loaded.definition.name));
    const champ = registry.champion();
    return !champ || tabularModel(registry.versionDir(champ.version));
  } catch {
    return false; // the body reports a broken registry itself, on the main thread as before
  }
}

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
    return false; // the body reports the missing model itself, on the main thread as before
  }
  const engine = /"engine"\s*:\s*"([^"]+)"/.exec(head)?.[1];
  return engine !== undefined && engine !== 'lstm' && engine !== 'blend';
}
