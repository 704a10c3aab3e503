/**
 * What a run's Temporal event history says about it, for `status` and `runs list`: its input (pipeline, cutoff,
 * trigger, engine), its result, each step's times, and for a failed or cancelled run the step it stopped in, the
 * error and the attempt count. Read from the history, so it works on closed runs without a worker (queries need one).
 */
import type { temporal } from '@temporalio/proto';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { RunInput, RunSummary } from '../workflows/types';
import type { BackfillInput } from '../workflows/backfill';
import { EVENT_LOOP_FIELD } from '../workflows/queues';

type Event = temporal.api.history.v1.IHistoryEvent;
type Failure = temporal.api.failure.v1.IFailure;

export interface StepTime {
  step: string;
  startedAt: string;
  /** Null while the step still runs. */
  seconds: number | null;
  activities: number;
  /** The worker's maximum event-loop delay (ms) while the step's activities ran (null: not measured). */
  eventLoopDelayMaxMs: number | null;
}

export interface RunFailure {
  step: string;
  /** The activity that failed, or null when the workflow itself stopped the run (e.g. no labels at the cutoff). */
  activity: string | null;
  message: string;
  type: string | null;
  /** Attempts of the failing activity (retries included); 1 for a failure raised by the workflow. */
  attempts: number;
}

export interface RunFacts {
  input: (RunInput & Partial<BackfillInput>) | null;
  summary: RunSummary | null;
  steps: StepTime[];
  failure: RunFailure | null;
  cancelRequested: boolean;
  /** The step a cancelled run stopped in. */
  lastStep: string | null;
  health: RunHealth;
}

/**
 * What went wrong on the way, even in a run that completed: a workflow task the server timed out (the worker's
 * event loop was blocked past its 10 s), an activity that timed out for good, and activities that needed more
 * than one attempt (a heartbeat timeout or a crash on an earlier attempt leaves no event of its own: the started
 * event of the last attempt carries its attempt number).
 */
export interface RunHealth {
  workflowTaskTimeouts: number;
  workflowTaskFailures: number;
  activityTimeouts: number;
  retriedActivities: number;
}

const ms = (t: temporal.api.history.v1.IHistoryEvent['eventTime']) =>
  t ? Number(t.seconds ?? 0) * 1000 + Math.round((t.nanos ?? 0) / 1e6) : 0;

function decode<T>(payloads: temporal.api.common.v1.IPayloads | null | undefined): T | null {
  const p = payloads?.payloads?.[0];
  if (!p) return null;
  try {
    return defaultPayloadConverter.fromPayload<T>(p as never);
  } catch {
    return null; // an encoded payload (codec) this CLI cannot read: show what the history says without it
  }
}

/** The pipeline step an activity belongs to (trainModel and buildFeatures serve several steps: see their input). */
export function stepOf(activity: string, input: Record<string, unknown> | null): string {
  const split = (input?.split as { kind?: string } | undefined)?.kind;
  switch (activity) {
    case 'loadDefinition':
      return 'definition';
    case 'extractSources':
    case 'resolveCutoff':
    case 'resolveRuns':
    case 'findCompletedRuns':
      return 'extract';
    case 'buildFeatures':
      return String(input?.folder ?? '').startsWith('cv/') ? 'cross-validate' : 'features';
    case 'trainModel':
      return split && split !== 'holdout' ? 'cross-validate' : 'train';
    case 'summariseFolds':
      return 'cross-validate';
    case 'publishModel':
      return 'publish';
    case 'scoreUsers':
      return 'score';
    case 'buildSegments':
      return 'segments';
    case 'finishRun':
      return 'report';
    default:
      return activity;
  }
}

/** The innermost failure of a chain (an activity failure wraps the application error that explains it). */
function innermost(f: Failure): Failure {
  return f.cause ? innermost(f.cause) : f;
}

export function readHistory(events: Event[]): RunFacts {
  const scheduled = new Map<string, { step: string; activity: string }>();
  const attempts = new Map<string, number>();
  const steps = new Map<
    string,
    { start: number; end: number | null; open: number; activities: number; delay: number | null }
  >();
  const facts: RunFacts = {
    input: null,
    summary: null,
    steps: [],
    failure: null,
    cancelRequested: false,
    lastStep: null,
    health: { workflowTaskTimeouts: 0, workflowTaskFailures: 0, activityTimeouts: 0, retriedActivities: 0 },
  };
  const close = (scheduledId: string, at: number) => {
    const s = steps.get(scheduled.get(scheduledId)?.step ?? '');
    if (!s) return;
    s.open--;
    s.end = Math.max(s.end ?? 0, at);
  };
  for (const e of events) {
    const id = String(e.eventId);
    const at = ms(e.eventTime);
    if (e.workflowExecutionStartedEventAttributes) {
      facts.input = decode(e.workflowExecutionStartedEventAttributes.input);
      const plannedAt = facts.input?.plan?.plannedAt;
      // A planned run's definition and extraction ran in its planning workflow, before this history began.
      if (plannedAt) steps.set('plan', { start: Date.parse(plannedAt), end: at, open: 0, activities: 0, delay: null });
    } else if (e.activityTaskScheduledEventAttributes) {
      const a = e.activityTaskScheduledEventAttributes;
      const activity = a.activityType?.name ?? '?';
      const step = stepOf(activity, decode(a.input));
      scheduled.set(id, { step, activity });
      facts.lastStep = step;
      const s = steps.get(step) ?? { start: at, end: null, open: 0, activities: 0, delay: null };
      s.open++;
      s.activities++;
      steps.set(step, s);
    } else if (e.activityTaskStartedEventAttributes) {
      const a = e.activityTaskStartedEventAttributes;
      attempts.set(String(a.scheduledEventId), a.attempt ?? 1);
    } else if (e.activityTaskCompletedEventAttributes) {
      const c = e.activityTaskCompletedEventAttributes;
      close(String(c.scheduledEventId), at);
      const delay = decode<Record<string, unknown>>(c.result)?.[EVENT_LOOP_FIELD];
      const s = steps.get(scheduled.get(String(c.scheduledEventId))?.step ?? '');
      if (s && typeof delay === 'number') s.delay = Math.max(s.delay ?? 0, delay);
    } else if (e.activityTaskFailedEventAttributes) {
      close(String(e.activityTaskFailedEventAttributes.scheduledEventId), at);
    } else if (e.activityTaskCanceledEventAttributes) {
      close(String(e.activityTaskCanceledEventAttributes.scheduledEventId), at);
    } else if (e.activityTaskTimedOutEventAttributes) {
      close(String(e.activityTaskTimedOutEventAttributes.scheduledEventId), at);
      facts.health.activityTimeouts++;
    } else if (e.workflowTaskTimedOutEventAttributes) {
      facts.health.workflowTaskTimeouts++;
    } else if (e.workflowTaskFailedEventAttributes) {
      facts.health.workflowTaskFailures++;
    } else if (e.workflowExecutionCancelRequestedEventAttributes) {
      facts.cancelRequested = true;
    } else if (e.workflowExecutionCompletedEventAttributes) {
      facts.summary = decode(e.workflowExecutionCompletedEventAttributes.result);
    } else if (e.workflowExecutionFailedEventAttributes?.failure) {
      facts.failure = explainFailure(e.workflowExecutionFailedEventAttributes.failure, scheduled, attempts, facts);
    }
  }
  facts.health.retriedActivities = [...attempts.values()].filter((a) => a > 1).length;
  facts.steps = [...steps].map(([step, s]) => ({
    step,
    startedAt: new Date(s.start).toISOString(),
    seconds: s.open > 0 || s.end === null ? null : Math.round(s.end - s.start) / 1000,
    activities: s.activities,
    eventLoopDelayMaxMs: s.delay,
  }));
  return facts;
}

function explainFailure(
  f: Failure,
  scheduled: Map<string, { step: string; activity: string }>,
  attempts: Map<string, number>,
  facts: RunFacts,
): RunFailure {
  const inner = innermost(f);
  const activityInfo = f.activityFailureInfo;
  const scheduledId = activityInfo ? String(activityInfo.scheduledEventId) : null;
  const what = scheduledId ? scheduled.get(scheduledId) : undefined;
  return {
    step: what?.step ?? facts.lastStep ?? 'starting',
    activity: activityInfo ? (activityInfo.activityType?.name ?? what?.activity ?? null) : null,
    message: inner.message ?? f.message ?? 'unknown error',
    type: inner.applicationFailureInfo?.type ?? null,
    attempts: scheduledId ? (attempts.get(scheduledId) ?? 1) : 1,
  };
}

/** The run's facts from its history (one request per page; a run's history is a few hundred events). */
export async function runFacts(client: Client, workflowId: string): Promise<RunFacts> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return readHistory(history.events ?? []);
}

/**
 * The run's health with its planning workflow's (definition and extract ran there, before the run began): what
 * `status` shows. A planning history the server no longer has counts as nothing.
 */
export async function healthWithPlanning(
  client: Client,
  facts: RunFacts,
  planning: { workflowId: string | null; runId: string | null } | undefined,
): Promise<RunHealth> {
  if (!planning?.workflowId) return facts.health;
  const events = await client.workflow
    .getHandle(planning.workflowId, planning.runId ?? undefined)
    .fetchHistory()
    .then((h) => h.events ?? [])
    .catch(() => []);
  const p = readHistory(events).health;
  const h = facts.health;
  return {
    workflowTaskTimeouts: h.workflowTaskTimeouts + p.workflowTaskTimeouts,
    workflowTaskFailures: h.workflowTaskFailures + p.workflowTaskFailures,
    activityTimeouts: h.activityTimeouts + p.activityTimeouts,
    retriedActivities: h.retriedActivities + p.retriedActivities,
  };
}

/** How a run was started, in the operator's words. */
export function kindOf(input: RunFacts['input'], workflowType: string): string {
  if (workflowType === 'backfillWorkflow') return 'backfill';
  if (input?.trigger === 'schedule') return 'scheduled';
  if (input?.trigger === 'backfill') return 'backfill';
  return 'live';
}
