/**
 * Operating runs: `funnelcast runs list`, `funnelcast status <run>`, `funnelcast cancel <run>`.
 * A <run> is a run id, `<pipeline>-<cutoff>-<content key>`, as printed by run, backfill and runs list: it is also
 * the run's workflow id and the name of its folder under runs/<pipeline>/. Closed runs are explained from their
 * event history (cli/run-history.ts), which needs no worker; live progress comes from the run's progress query.
 */
import { parseArgs } from 'node:util';
import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import type { StepProgress } from '../workflows/types';
import { withSession } from './session';
import { backfillProgressLine } from './backfill';
import { healthWithPlanning, kindOf, runFacts, type RunFacts } from './run-history';
import { EXIT, num, progressBar, table, UsageError, print } from './format';
import { forPeople } from './edge';

export const RUNS_HELP = `Usage:
  funnelcast runs list [--limit n] [--json]      recent runs, newest first: pipeline, cutoff, kind (live,
                                                 scheduled, backfill), engine, outcome, duration, metric, failure
  funnelcast status <run> [--watch] [--json]     the live step and progress of a run; for a finished run its
                                                 step times (--json: and its summary); for a failed run the
                                                 failing step, the error and the attempt count
  funnelcast cancel <run> [--no-wait] [--json]   cancel a run: training stops, nothing half-published; waits
                                                 (up to 30 s) until the run has stopped and says how long it took

status exits 0 (running or completed), 1 failed, 3 failed on bad input (no labels, bad definition or data),
5 cancelled, 4 no such run. cancel exits 0 when the run is cancelled, is being cancelled or already was (it says
which), 1 when it had already finished otherwise (completed or failed: nothing to cancel), 4 no such run.
A backfill's id (backfill-…) works with status and cancel too: cutoffs done / total and each current run's step.

Examples:
  funnelcast runs list --limit 10
  funnelcast status sample-20240301T000000Z-3f9c2a61d0 --watch
  funnelcast status sample-20240301T000000Z-3f9c2a61d0 --json | jq .steps
  funnelcast cancel sample-20240301T000000Z-3f9c2a61d0
`;

const BAD_INPUT = ['NoLabels', 'OneClass', 'InputError', 'PipelineDefinitionError'];

/** The exit code of a run's outcome (README: 1 failed, 3 bad input, 5 cancelled). */
export function exitForOutcome(status: string, failure: RunFacts['failure']): number {
  if (status === 'CANCELLED') return EXIT.cancelled;
  if (status === 'FAILED') return failure?.type && BAD_INPUT.includes(failure.type) ? EXIT.badInput : EXIT.failed;
  if (status === 'TERMINATED' || status === 'TIMED_OUT') return EXIT.failed;
  return EXIT.ok;
}

const notFound = (id: string) => (e: unknown) => {
  if (e instanceof WorkflowNotFoundError) {
    process.stderr.write(`No run with id ${id}. See: funnelcast runs list\n`);
    return EXIT.notFound;
  }
  throw e;
};

export interface RunRow {
  run: string;
  /** The same as run (a run's id is its workflow id); kept for scripts written against earlier versions. */
  workflowId: string;
  type: string;
  pipeline: string | null;
  cutoff: string | null;
  kind: string;
  engine: string | null;
  outcome: string;
  started: string;
  closed: string | null;
  seconds: number;
  metric: { name: string; value: number | null } | null;
  failure: string | null;
}

/** One row of `runs list`: the listing's times and status, the rest from the run's history. */
async function runRow(
  client: Client,
  w: { workflowId: string; type: string; status: { name: string }; startTime: Date; closeTime?: Date },
): Promise<RunRow> {
  const facts = forPeople(await runFacts(client, w.workflowId).catch(() => null));
  const input = facts?.input ?? null;
  const def = input?.plan?.loaded.definition;
  const s = w.type === 'retrainWorkflow' ? (facts?.summary ?? null) : null; // a backfill's result is its rows
  const cutoffs = input?.cutoffs;
  const metricName = def?.registry.primaryMetric ?? 'roc_auc';
  const begin = input?.plan?.plannedAt ? Date.parse(input.plan.plannedAt) : w.startTime.getTime();
  return {
    run: w.workflowId,
    workflowId: w.workflowId,
    type: w.type,
    pipeline: def?.name ?? s?.pipeline ?? (input?.pipeline ? input.pipeline.replace(/^.*\/|\.json$/g, '') : null),
    cutoff: cutoffs?.length
      ? `${cutoffs[0].slice(0, 10)}…${cutoffs.at(-1)!.slice(0, 10)}`
      : (s?.cutoff ?? input?.cutoff ?? null),
    kind: kindOf(input, w.type),
    engine: s?.model.engine ?? def?.model.engine ?? null,
    outcome: facts?.cancelRequested && w.status.name === 'RUNNING' ? 'CANCELLING' : w.status.name,
    started: w.startTime.toISOString(),
    closed: w.closeTime?.toISOString() ?? null,
    seconds: Math.round(((w.closeTime?.getTime() ?? Date.now()) - begin) / 100) / 10,
    metric: s ? { name: metricName, value: s.model.holdout?.[metricName] ?? null } : null,
    failure: facts?.failure ? `${facts.failure.step}: ${facts.failure.message}` : null,
  };
}

export async function runsCommand(argv: string[]): Promise<number> {
  const action = argv[0]?.startsWith('-') ? undefined : argv[0];
  const rest = action === undefined ? argv : argv.slice(1);
  const { values } = parseArgs({
    args: rest,
    options: {
      limit: { type: 'string', default: '20' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (action !== 'list' || values.help) {
    if (!values.help)
      throw new UsageError(
        `${action ? `unknown action "${action}"` : 'missing action'}: funnelcast runs list\n\n${RUNS_HELP}`,
      );
    print(RUNS_HELP);
    return EXIT.ok;
  }
  const limit = Math.max(1, Math.min(1000, Number(values.limit) || 20));
  return withSession({ worker: 'no' }, async ({ client }) => {
    const listed = [];
    for await (const w of client.workflow.list({ query: `WorkflowType IN ("retrainWorkflow", "backfillWorkflow")` })) {
      listed.push(w);
      if (listed.length >= limit) break;
    }
    const rows = await Promise.all(listed.map((w) => runRow(client, w)));
    if (values.json) print(JSON.stringify(rows, null, 2) + '\n');
    else if (rows.length === 0) print('No runs yet. Start one with: funnelcast run\n');
    else
      print(
        table(
          ['run', 'pipeline', 'cutoff', 'kind', 'engine', 'outcome', 'duration', 'metric', 'failure'],
          rows.map((r) => [
            r.run,
            r.pipeline ?? '—',
            r.cutoff?.replace(/T00:00:00(\.000)?Z$/, '') ?? '—',
            r.kind,
            r.engine ?? '—',
            r.outcome,
            `${r.seconds.toFixed(1)} s`,
            r.metric ? `${r.metric.name} ${num(r.metric.value)}` : '—',
            r.failure ? (r.failure.length > 70 ? `${r.failure.slice(0, 69)}…` : r.failure) : '',
          ]),
        ) + '\n',
      );
    return EXIT.ok;
  });
}

/** The live progress of a running retrain run (null when no worker answers queries). */
async function liveProgress(client: Client, id: string): Promise<StepProgress | null> {
  try {
    return await client.workflow.getHandle(id).query<StepProgress>('progress');
  } catch {
    return null;
  }
}

/** A running activity that is being retried: which, which attempt, and the last error. */
function retrying(d: WorkflowExecutionDescription): string {
  const pending = (d.raw.pendingActivities ?? []).filter((a) => (a.attempt ?? 1) > 1);
  return pending
    .map((a) => `retrying ${a.activityType?.name} (attempt ${a.attempt}): ${forPeople(a.lastFailure?.message ?? '')}`)
    .join('; ');
}

export function describeFacts(id: string, status: string, facts: RunFacts): string {
  const lines = [`${id}: ${status}`];
  const f = facts.failure;
  if (f)
    lines.push(
      `  failed in step ${f.step}${f.activity ? ` (${f.activity}, ${f.attempts} attempt${f.attempts > 1 ? 's' : ''})` : ''}: ${f.message}`,
    );
  if (status === 'CANCELLED')
    lines.push(`  cancelled during step ${facts.lastStep ?? 'starting'}; nothing was published after it`);
  const s = facts.summary;
  if (s?.model)
    lines.push(
      `  ${s.pipeline} at ${s.cutoff}: ${s.model.engine} holdout ROC AUC ${num(s.model.holdout?.roc_auc)}` +
        `${s.publish ? `, ${s.publish.version} ${s.publish.decision}` : ''} (${s.seconds.toFixed(1)} s)`,
    );
  for (const w of s?.publish?.warnings ?? []) lines.push(`  WARNING ${w.message}`);
  if (facts.steps.length)
    lines.push(
      `  steps  ${facts.steps.map((t) => `${t.step} ${t.seconds === null ? '…' : `${t.seconds.toFixed(1)} s`}`).join(', ')}`,
    );
  const delays = facts.steps.filter((t) => t.eventLoopDelayMaxMs !== null);
  if (delays.length)
    lines.push(
      `  worker event-loop delay (max)  ${delays.map((t) => `${t.step} ${Math.round(t.eventLoopDelayMaxMs!)} ms`).join(', ')}`,
    );
  const h = facts.health;
  if (h.workflowTaskTimeouts + h.workflowTaskFailures + h.activityTimeouts + h.retriedActivities > 0)
    lines.push(
      `  health  ${h.workflowTaskTimeouts} workflow-task timeouts, ${h.workflowTaskFailures} workflow-task failures, ` +
        `${h.activityTimeouts} activity timeouts, ${h.retriedActivities} activities retried`,
    );
  return lines.join('\n') + '\n';
}

async function statusOnce(
  client: Client,
  id: string,
  json: boolean,
  inPlace: boolean,
): Promise<{ status: string; facts: RunFacts }> {
  const d = await client.workflow.getHandle(id).describe();
  const status = d.status.name;
  const facts = forPeople(await runFacts(client, id));
  facts.health = await healthWithPlanning(client, facts, d.parentExecution);
  const backfill = d.type === 'backfillWorkflow';
  const live = status === 'RUNNING' ? (backfill ? null : await liveProgress(client, id)) : null;
  const backfillLine =
    status === 'RUNNING' && backfill ? await backfillProgressLine(client, id).catch(() => null) : null;
  const shown = status === 'RUNNING' && facts.cancelRequested ? 'RUNNING (cancel requested)' : status;
  if (json) {
    const { summary, steps, failure, health } = facts;
    print(
      JSON.stringify(
        {
          workflowId: id,
          runId: live?.runId ?? id,
          type: d.type,
          status,
          kind: kindOf(facts.input, d.type),
          cancelRequested: facts.cancelRequested,
          progress: live,
          backfill: backfillLine,
          retrying: retrying(d) || null,
          steps,
          health,
          failure,
          summary,
        },
        null,
        2,
      ) + '\n',
    );
    return { status, facts };
  }
  let text: string;
  if (status !== 'RUNNING') text = describeFacts(id, status, facts);
  else {
    const body =
      backfillLine ??
      (live
        ? `${progressBar(live.stepsDone, live.stepsTotal)} ${live.step}${live.detail ? ` (${live.detail})` : ''}` +
          `${live.rows ? `, ${live.rows.toLocaleString('en-US')} rows` : ''}${live.foldsTotal ? `, folds ${live.foldsDone}/${live.foldsTotal}` : ''}`
        : `step ${facts.lastStep ?? 'starting'} (no worker answers progress queries: start one with funnelcast up)`);
    const retry = retrying(d);
    text = `${id}: ${shown}\n  ${body}${retry ? `\n  ${retry}` : ''}\n`;
  }
  print(inPlace && status === 'RUNNING' ? `\r\x1b[2K${text.replace(/\n\s*/g, ' ').trim()}` : text);
  return { status, facts };
}

export async function statusCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      watch: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    print(RUNS_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1)
    throw new UsageError(`give exactly one run id: funnelcast status <run>\n\n${RUNS_HELP}`);
  const id = positionals[0];
  const inPlace = Boolean(process.stdout.isTTY) && values.watch && !values.json;
  return withSession({ worker: 'no' }, async ({ client }) => {
    for (;;) {
      const { status, facts } = await statusOnce(client, id, values.json, inPlace);
      if (!values.watch || status !== 'RUNNING') return exitForOutcome(status, facts.failure);
      await new Promise((r) => setTimeout(r, 1000));
      if (inPlace && (await client.workflow.getHandle(id).describe()).status.name !== 'RUNNING') print('\n');
    }
  }).catch(notFound(id));
}

export async function cancelCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'no-wait': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || positionals.length !== 1) {
    if (!values.help) throw new UsageError('give exactly one run id: funnelcast cancel <run>');
    print(RUNS_HELP);
    return EXIT.ok;
  }
  const id = positionals[0];
  return withSession({ worker: 'no' }, async ({ client }) => {
    const handle = client.workflow.getHandle(id);
    const status = (await handle.describe()).status.name;
    const facts = await runFacts(client, id);
    // Idempotent: the state asked for already holds (cancelled, or cancelling) → say so, exit 0; a run that
    // finished otherwise cannot be cancelled any more → say how it ended, exit 1.
    let state: 'requested' | 'cancelled' | 'already requested' | 'already cancelled' | 'already finished';
    let seconds: number | null = null;
    if (status === 'CANCELLED') state = 'already cancelled';
    else if (status !== 'RUNNING') state = 'already finished';
    else if (facts.cancelRequested) state = 'already requested';
    else {
      const asked = Date.now();
      await handle.cancel();
      state = 'requested';
      // The run ends once its running activities saw the cancel (at their next heartbeat, within seconds) and
      // stopped: wait for that, so the command says what happened rather than what was asked.
      const ended = values['no-wait'] ? null : await closedWithin(client, id, CANCEL_WAIT_MS);
      if (ended === 'CANCELLED') {
        state = 'cancelled';
        seconds = (Date.now() - asked) / 1000;
      }
    }
    const step = async () => (await runFacts(client, id)).lastStep ?? 'starting';
    const message = {
      requested: `Cancellation requested for ${id}; running activities stop at their next heartbeat (follow it: funnelcast status ${id} --watch).`,
      cancelled: `Cancelled ${id} in ${seconds?.toFixed(1)} s, during step ${state === 'cancelled' ? await step() : ''}; nothing was published after it.`,
      'already requested': `${id} is already being cancelled (requested earlier); follow it with: funnelcast status ${id} --watch`,
      'already cancelled': `${id} is already cancelled (during step ${facts.lastStep ?? 'starting'}); nothing to do.`,
      'already finished': `${id} already finished (${status.toLowerCase()}); there is nothing to cancel.`,
    }[state];
    if (values.json) print(JSON.stringify({ workflowId: id, status, cancel: state, seconds }) + '\n');
    else print(message + '\n');
    return state === 'already finished' ? EXIT.failed : EXIT.ok;
  }).catch(notFound(id));
}

/** How long `cancel` waits for the run to end before saying it is still stopping. */
const CANCEL_WAIT_MS = 30_000;

/** The run's status once it is no longer running, or null when it still runs after `ms`. */
async function closedWithin(client: Client, id: string, ms: number): Promise<string | null> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    const s = (await client.workflow.getHandle(id).describe()).status.name;
    if (s !== 'RUNNING') return s;
  }
  return null;
}
