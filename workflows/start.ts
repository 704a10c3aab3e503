/**
 * Starting a run under its content-addressed id: plan it (definition, extract, run id), then start the retrain
 * workflow as a child whose workflow id IS the run id, so the id `funnelcast run` prints is the one `status`,
 * `cancel` and `runs list` use. The CLI starts this with `wait: false` and then follows the run by its id; a
 * schedule's action starts it with `wait: true`, so the schedule's overlap policy covers the whole run.
 *
 * Starting the same run twice returns the same run: a finished one is returned as it is, a running one is
 * attached to (the child start fails with "already started" and the caller follows the id).
 */
import { ParentClosePolicy, startChild, upsertMemo, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { routed } from './proxies';
import { answers, planRun } from './plan';
import { retrainWorkflow } from './retrain';
import { runKind } from '../infra/search-attribute-keys';
import { tagWorkflow } from './tags';
import type { RunInput, StartedRun } from './types';

const io = routed({ startToCloseTimeout: '5 minutes', retry: { maximumAttempts: 5 } });

export async function startRunWorkflow(input: RunInput & { wait?: boolean }): Promise<StartedRun> {
  const { wait, ...runInput } = input;
  const plan = await planRun(runInput);
  const { runId, cutoff } = plan.run;
  // Schedules list their actions by this workflow's id: the memo tells `schedule describe` which run it started.
  upsertMemo({ runId });
  const def = plan.loaded.definition;
  tagWorkflow({
    pipeline: def.name,
    cutoff,
    kind: runKind(runInput.trigger, runInput.rerun?.of),
    engine: def.model.engine,
  });
  const finished = (await io.findCompletedRuns({ pipeline: plan.loaded.definition.name, runIds: [runId] }))[runId];
  if (answers(finished, runInput.trainOnly)) return { runId, cutoff, started: false, summary: finished };
  try {
    const child = await startChild(retrainWorkflow, {
      workflowId: runId,
      args: [{ ...runInput, cutoff, plan }],
      taskQueue: workflowInfo().taskQueue,
      // The CLI's planning workflow ends at once and the run goes on; a scheduled one is cancelled with its parent
      // (overlap policies cancel_other / terminate_other).
      parentClosePolicy: wait ? ParentClosePolicy.REQUEST_CANCEL : ParentClosePolicy.ABANDON,
    });
    if (!wait) return { runId, cutoff, started: true, summary: null };
    return { runId, cutoff, started: true, summary: await child.result() };
  } catch (e) {
    if (e instanceof WorkflowExecutionAlreadyStartedError) return { runId, cutoff, started: false, summary: null };
    throw e;
  }
}
