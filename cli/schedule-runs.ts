/**
 * The runs a schedule started, with their outcomes: what `schedule trigger` waits for and `schedule describe` lists.
 * A schedule's action is a planning workflow (`scheduled-<pipeline>-<time>`, workflows/start.ts) that starts the run
 * under its own id and waits for it; the run id is in the planning workflow's memo. A run is judged by the run's
 * workflow (its failure: step, error, attempts); when planning itself failed (bad definition, unreadable source)
 * there is no run, and the planning workflow's failure is the reason.
 */
import { WorkflowFailedError, type Client, type ScheduleHandle } from '@temporalio/client';
import type { StartedRun } from '../workflows/types';
import { runFacts, type RunFailure } from './run-history';
import { exitForOutcome } from './runs';

export interface ScheduledRunOutcome {
  /** The schedule action's planning workflow. */
  workflowId: string;
  /** The run it started (null while it plans, or when planning failed). */
  runId: string | null;
  /** RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT; SKIPPED when the overlap policy skipped it. */
  outcome: string;
  failure: RunFailure | null;
  /** False when the planning found the same run (same definition, data and cutoff) finished already. */
  started: boolean | null;
  exitCode: number;
}

async function statusOf(client: Client, workflowId: string): Promise<string | null> {
  try {
    return (await client.workflow.getHandle(workflowId).describe()).status.name;
  } catch {
    return null; // gone from visibility (retention)
  }
}

async function memoRunId(client: Client, workflowId: string): Promise<string | null> {
  try {
    const memo = (await client.workflow.getHandle(workflowId).describe()).memo as { runId?: string } | undefined;
    return memo?.runId ?? null;
  } catch {
    return null;
  }
}

/** The outcome of one schedule action now: the run's when it has one, else its planning workflow's. */
export async function scheduledRunOutcome(client: Client, workflowId: string): Promise<ScheduledRunOutcome> {
  const runId = await memoRunId(client, workflowId);
  const planning = (await statusOf(client, workflowId)) ?? 'UNKNOWN';
  let started: boolean | null = null;
  if (planning === 'COMPLETED') {
    const r = (await client.workflow.getHandle(workflowId).result()) as StartedRun;
    started = r.started;
  }
  // The run's own workflow says how it ended (a finished run found again by planning is its earlier outcome).
  const runStatus = runId ? await statusOf(client, runId) : null;
  const judged = runStatus && runId ? runId : workflowId;
  const outcome = runStatus ?? planning;
  const failure = outcome === 'FAILED' ? ((await runFacts(client, judged).catch(() => null))?.failure ?? null) : null;
  return { workflowId, runId, outcome, failure, started, exitCode: exitForOutcome(outcome, failure) };
}

/**
 * Triggers the schedule now and, unless `wait` is false, waits for the run it starts to end, then reports its real
 * outcome (exit code of the README's table). The new action is told apart from earlier ones by its workflow id; when
 * none appears, the schedule's overlap policy skipped it (a run is still going) and that is what is reported.
 */
export async function triggerAndWait(
  client: Client,
  handle: ScheduleHandle,
  opts: { wait: boolean; onWaiting?: (o: ScheduledRunOutcome) => void; timeoutMs?: number },
): Promise<ScheduledRunOutcome> {
  const before = await handle.describe();
  const seen = new Set([
    ...before.info.recentActions.map((a) => a.action.workflow.workflowId),
    ...before.info.runningActions.map((a) => a.workflow.workflowId),
  ]);
  const skippedBefore = before.info.numActionsSkippedOverlap;
  await handle.trigger();
  let workflowId: string | undefined;
  for (const deadline = Date.now() + 15_000; !workflowId; await sleep(250)) {
    const d = await handle.describe();
    workflowId = [
      ...d.info.runningActions.map((a) => a.workflow),
      ...d.info.recentActions.map((a) => a.action.workflow),
    ]
      .map((w) => w.workflowId)
      .find((id) => !seen.has(id));
    if (workflowId) break;
    if (d.info.numActionsSkippedOverlap > skippedBefore || Date.now() > deadline) {
      const running = d.info.runningActions.map((a) => a.workflow.workflowId).join(', ');
      const why = running ? `the overlap policy skipped it: ${running} is still running` : 'no run was started';
      return {
        workflowId: '',
        runId: null,
        outcome: 'SKIPPED',
        failure: { step: 'schedule', activity: null, message: why, type: 'Skipped', attempts: 1 },
        started: false,
        exitCode: 1,
      };
    }
  }
  if (!opts.wait) return scheduledRunOutcome(client, workflowId);
  // The planning workflow waits for the run, so its end is the run's end (a failure is read from the run's history).
  const planning = client.workflow.getHandle(workflowId);
  const waiting = planning.result().catch((e) => {
    if (!(e instanceof WorkflowFailedError)) throw e;
  });
  let told = false;
  let hinted = false;
  const started = Date.now();
  const deadline = started + (opts.timeoutMs ?? 4 * 3600_000);
  while (!(await Promise.race([waiting.then(() => true), sleep(1000).then(() => false)]))) {
    if (!told && (await memoRunId(client, workflowId))) {
      told = true;
      opts.onWaiting?.(await scheduledRunOutcome(client, workflowId));
    } else if (!told && !hinted && Date.now() - started > 15_000) {
      // Scheduled runs are planned by a worker: without one (funnelcast up) nothing happens.
      hinted = true;
      process.stderr.write(`${workflowId} has not been planned yet: is a worker running (funnelcast up)?\n`);
    }
    if (Date.now() > deadline) break;
  }
  // Planning may have found the same run already going (started by `run` or another trigger): follow that run.
  const runId = await memoRunId(client, workflowId);
  if (runId && (await statusOf(client, runId)) === 'RUNNING')
    await client.workflow
      .getHandle(runId)
      .result()
      .catch(() => undefined);
  return scheduledRunOutcome(client, workflowId);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
