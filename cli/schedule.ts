/**
 * `funnelcast schedule …`: retrains on a Temporal Schedule (not a cron workflow). One schedule per pipeline,
 * id `retrain-<pipeline>`; each scheduled run takes its cutoff from its scheduled time. The schedule's action is
 * the planning workflow (workflows/start.ts), which starts the run under its content-addressed run id and waits
 * for it, so `runs list` and `status` show scheduled runs by the same ids as any other run.
 */
import { parseArgs } from 'node:util';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type Client,
  type ScheduleOverlapPolicy,
} from '@temporalio/client';
import { loadPipeline } from '../pipelines/load';
import { TASK_QUEUE } from '../infra/temporal';
import type { RunInput } from '../workflows/types';
import { withSession } from './session';
import { scheduledRunOutcome, triggerAndWait } from './schedule-runs';
import { scheduleInWords } from './schedule-words';
import { describeFacts } from './runs';
import { runFacts } from './run-history';
import { EXIT, table, UsageError, print } from './format';
import { forPeople, portableDefinition } from './edge';

export const SCHEDULE_HELP = `Usage: funnelcast schedule <action> [options]

Actions:
  create   --pipeline <p> (--cron "<expr>" | --every <interval>) [--timezone <tz>] [--overlap <policy>] [--catchup-window <d>] [--paused]
  update   --pipeline <p> with the same options as create
  list
  describe --pipeline <p>
  pause    --pipeline <p> [--note <text>]
  unpause  --pipeline <p>
  trigger  --pipeline <p> [--no-wait]  run now (cutoff = now, or the data's last day with "clock": "data")
           and wait for the run: prints its id and outcome, exits as the run ended (0 done,
           1 failed, 3 bad input, 5 cancelled), with the failing step and error
  delete   --pipeline <p>
All actions take --json.

  --overlap         skip | buffer_one | buffer_all | cancel_other | terminate_other | allow_all   [default: skip]
  --catchup-window  how far back missed runs are caught up after downtime, e.g. 1h, 1d          [default: 1d]
  --every           an interval such as 30m, 6h, 1d, 1w (optionally with an offset: 1d+2h)

Creating a schedule that exists with the same settings does nothing; with other settings it asks for update.
A definition file outside the package and FUNNELCAST_HOME is pinned by content when the schedule is created or
updated (definitions/<sha256>.json in the store): every scheduled run, on whichever machine its worker runs, uses
those bytes, not the file. After editing the file, run \`funnelcast schedule update\` with the same options to pin
the new content (create then reports other settings). Its relative sources are read as for \`funnelcast run\`.
Scheduled runs only fire while a worker runs (funnelcast up, or npm run worker). A scheduled run's cutoff is its
scheduled time; it trains one horizon before the cutoff, or before the data's last day when the data stops earlier
(the summary says so). The bundled sample's live feed appends its synthetic events day by day up to the scheduled
time first, so its scheduled runs score today. A pipeline with "clock": "data" uses the last complete day of its
data as the cutoff instead. describe lists the recent runs with their outcomes.

Examples:
  funnelcast schedule create --pipeline sample --cron "0 3 * * 1" --timezone Europe/Paris
  funnelcast schedule create --pipeline sample --every 1d --overlap buffer_one
  funnelcast schedule trigger --pipeline sample
`;

const OVERLAPS = ['skip', 'buffer_one', 'buffer_all', 'cancel_other', 'terminate_other', 'allow_all'] as const;

export interface ScheduleSettings {
  pipeline: string;
  /**
   * The definition each scheduled run starts from, as a key: a file in the package or the home by its key, any
   * other by its content (`definitions/<sha256>.json`, pinned when the schedule is created or updated), so a worker
   * on another machine reads what the schedule was made with, never a path of the machine that made it.
   */
  pipelineFile: string;
  /** Where that definition's relative sources are read (RunInput.sourcesDir), when it travels by content. */
  sourcesDir?: string;
  cron: string | null;
  every: string | null;
  timezone: string;
  overlap: (typeof OVERLAPS)[number];
  catchupWindow: string;
  /**
   * The workflow each action starts. Part of the settings so that a schedule made before runs were planned under
   * their content-addressed ids (action `retrainWorkflow`) is reported as different and updated, not kept.
   */
  action: 'startRunWorkflow';
}

export const scheduleIdFor = (pipeline: string) => `retrain-${pipeline}`;

async function settingsFrom(values: Record<string, string | boolean | undefined>): Promise<ScheduleSettings> {
  const ref = values.pipeline as string | undefined;
  if (!ref) throw new UsageError('--pipeline is required');
  const loaded = loadPipeline(ref);
  const cron = (values.cron as string | undefined) ?? null;
  const every = (values.every as string | undefined) ?? null;
  if (!cron === !every) throw new UsageError('give exactly one of --cron "<expr>" or --every <interval>');
  if (every && !/^\d+(s|m|h|d|w)(\+\d+(s|m|h|d|w))?$/.test(every))
    throw new UsageError(`--every "${every}": write an interval like 30m, 6h, 1d or 1d+2h`);
  if (cron && cron.trim().split(/\s+/).length < 5)
    throw new UsageError(`--cron "${cron}": a cron expression has 5 fields, e.g. "0 3 * * 1"`);
  const overlap = ((values.overlap as string | undefined) ?? 'skip').toLowerCase() as ScheduleSettings['overlap'];
  if (!OVERLAPS.includes(overlap)) throw new UsageError(`--overlap must be one of ${OVERLAPS.join(', ')}`);
  const catchupWindow = (values['catchup-window'] as string | undefined) ?? '1d';
  if (!/^\d+(s|m|h|d|w)$/.test(catchupWindow))
    throw new UsageError(`--catchup-window "${catchupWindow}": write a duration like 1h or 1d`);
  const def = await portableDefinition(loaded);
  return {
    pipeline: loaded.definition.name,
    pipelineFile: def.pipeline,
    ...(def.sourcesDir ? { sourcesDir: def.sourcesDir } : {}),
    cron,
    every,
    timezone: (values.timezone as string | undefined) ?? 'UTC',
    overlap,
    catchupWindow,
    action: 'startRunWorkflow',
  };
}

const toMs = (d: string) =>
  Number(/^\d+/.exec(d)![0]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 }[d.replace(/^\d+/, '') as 's']!;

function scheduleOptions(s: ScheduleSettings, paused = false) {
  const [every, offset] = (s.every ?? '').split('+');
  const input: RunInput & { wait: boolean } = {
    pipeline: s.pipelineFile,
    ...(s.sourcesDir ? { sourcesDir: s.sourcesDir } : {}),
    trigger: 'schedule',
    wait: true,
  };
  return {
    scheduleId: scheduleIdFor(s.pipeline),
    spec: {
      ...(s.cron
        ? { cronExpressions: [s.cron] }
        : { intervals: [{ every: toMs(every), ...(offset ? { offset: toMs(offset) } : {}) }] }),
      timezone: s.timezone,
    },
    action: {
      type: 'startWorkflow' as const,
      workflowType: s.action,
      taskQueue: TASK_QUEUE,
      workflowId: `scheduled-${s.pipeline}`,
      args: [input],
    },
    policies: { overlap: s.overlap.toUpperCase() as ScheduleOverlapPolicy, catchupWindow: toMs(s.catchupWindow) },
    memo: { funnelcast: s },
    // The Web UI shows the note: the schedule in words, not its calendar spec.
    state: { paused, note: `${scheduleInWords(s)}${paused ? ' (created paused)' : ''}` },
  };
}

const sameSettings = (a: ScheduleSettings, b: ScheduleSettings) => JSON.stringify(a) === JSON.stringify(b);

async function storedSettings(client: Client, pipeline: string): Promise<ScheduleSettings | null> {
  try {
    const d = await client.schedule.getHandle(scheduleIdFor(pipeline)).describe();
    return ((d.memo as { funnelcast?: ScheduleSettings } | undefined)?.funnelcast ?? null) as ScheduleSettings | null;
  } catch (e) {
    if (e instanceof ScheduleNotFoundError) return null;
    throw e;
  }
}

type Values = ReturnType<typeof parseScheduleArgs>;
type Out = (human: string, json: unknown) => void;

function parseScheduleArgs(args: string[]) {
  return parseArgs({
    args,
    options: {
      pipeline: { type: 'string' },
      cron: { type: 'string' },
      every: { type: 'string' },
      timezone: { type: 'string' },
      overlap: { type: 'string' },
      'catchup-window': { type: 'string' },
      paused: { type: 'boolean', default: false },
      note: { type: 'string' },
      'no-wait': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }).values;
}

const pipelineName = (values: Values) => {
  if (!values.pipeline) throw new UsageError('--pipeline is required');
  return loadPipeline(values.pipeline).definition.name;
};

export async function scheduleCommand(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  const values = parseScheduleArgs(rest);
  if (!action || values.help || action === '--help') {
    print(SCHEDULE_HELP);
    return action ? EXIT.ok : EXIT.usage;
  }
  const out: Out = (human, json) => print(values.json ? JSON.stringify(json, null, 2) + '\n' : human + '\n');
  return withSession({ worker: 'no' }, async ({ client }) => {
    switch (action) {
      case 'create':
        return createSchedule(client, values, out);
      case 'update':
        return updateSchedule(client, values, out);
      case 'list':
        return listSchedules(client, out);
      case 'describe':
        return describeSchedule(client, pipelineName(values), out);
      case 'trigger':
        return trigger(client, pipelineName(values), !values['no-wait'], out);
      case 'pause':
      case 'unpause':
      case 'delete':
        return changeState(client, action, values, out);
      default:
        throw new UsageError(`unknown schedule action "${action}"\n\n${SCHEDULE_HELP}`);
    }
  }).catch((e) => {
    if (e instanceof ScheduleNotFoundError) {
      process.stderr.write(`No such schedule: ${e.message}. List them with: funnelcast schedule list\n`);
      return EXIT.notFound;
    }
    throw e;
  });
}

/** `schedule create`: the same settings twice do nothing; other settings ask for `update`. */
async function createSchedule(client: Client, values: Values, out: Out): Promise<number> {
  const s = await settingsFrom(values);
  const id = scheduleIdFor(s.pipeline);
  const existing = await storedSettings(client, s.pipeline);
  if (existing) {
    if (sameSettings(existing, s)) {
      out(`Schedule ${id} already exists with these settings: nothing to do.`, {
        scheduleId: id,
        created: false,
        unchanged: true,
      });
      return EXIT.ok;
    }
    process.stderr.write(
      `Schedule ${id} exists with other settings:\n  now: ${JSON.stringify(existing)}\n  new: ${JSON.stringify(s)}\n` +
        `Use \`funnelcast schedule update\` with the same options to change it.\n`,
    );
    return EXIT.usage;
  }
  try {
    await client.schedule.create(scheduleOptions(s, values.paused));
  } catch (e) {
    if (!(e instanceof ScheduleAlreadyRunning)) throw e;
  }
  out(`Created schedule ${id} (${scheduleInWords(s)}, overlap ${s.overlap}).`, {
    scheduleId: id,
    created: true,
    settings: s,
  });
  return EXIT.ok;
}

async function updateSchedule(client: Client, values: Values, out: Out): Promise<number> {
  const s = await settingsFrom(values);
  const handle = client.schedule.getHandle(scheduleIdFor(s.pipeline));
  const o = scheduleOptions(s);
  await handle.update((prev) => ({
    ...prev,
    spec: o.spec,
    action: o.action,
    policies: { ...prev.policies, ...o.policies },
    memo: o.memo,
  }));
  out(`Updated schedule ${scheduleIdFor(s.pipeline)}.`, {
    scheduleId: scheduleIdFor(s.pipeline),
    updated: true,
    settings: s,
  });
  return EXIT.ok;
}

/** `schedule list`: every retrain schedule, in words, with its next and last run. */
async function listSchedules(client: Client, out: Out): Promise<number> {
  const rows: Record<string, unknown>[] = [];
  for await (const sch of client.schedule.list()) {
    if (!sch.scheduleId.startsWith('retrain-')) continue;
    const d = await client.schedule.getHandle(sch.scheduleId).describe();
    const s = (d.memo as { funnelcast?: ScheduleSettings } | undefined)?.funnelcast;
    rows.push({
      scheduleId: sch.scheduleId,
      pipeline: s?.pipeline ?? '?',
      when: s ? scheduleInWords(s) : '?',
      timezone: s?.timezone ?? '',
      paused: d.state.paused,
      nextRun: d.info.nextActionTimes[0]?.toISOString() ?? null,
      lastRun: d.info.recentActions.at(-1)?.takenAt.toISOString() ?? null,
    });
  }
  const cells = (r: Record<string, unknown>) =>
    [r.scheduleId, r.pipeline, r.when, r.timezone, String(r.paused), r.nextRun ?? '—', r.lastRun ?? '—'] as string[];
  out(
    rows.length === 0
      ? 'No retrain schedules. Create one with: funnelcast schedule create --pipeline <p> --every 1d'
      : table(['schedule', 'pipeline', 'when', 'tz', 'paused', 'next run', 'last run'], rows.map(cells)),
    rows,
  );
  return EXIT.ok;
}

/** `schedule describe`: settings in words, the next runs, and the recent runs with their outcomes. */
async function describeSchedule(client: Client, name: string, out: Out): Promise<number> {
  const d = await client.schedule.getHandle(scheduleIdFor(name)).describe();
  const s = (d.memo as { funnelcast?: ScheduleSettings } | undefined)?.funnelcast;
  const info = {
    scheduleId: d.scheduleId,
    settings: s,
    inWords: s ? scheduleInWords(s) : null,
    paused: d.state.paused,
    note: d.state.note,
    nextRuns: d.info.nextActionTimes.map((t) => t.toISOString()),
    recentRuns: await Promise.all(
      d.info.recentActions.map(async (a) => {
        const o = await scheduledRunOutcome(client, a.action.workflow.workflowId);
        return {
          scheduledAt: a.scheduledAt.toISOString(),
          takenAt: a.takenAt.toISOString(),
          workflowId: a.action.workflow.workflowId,
          executionId: a.action.workflow.firstExecutionRunId,
          runId: o.runId,
          outcome: o.outcome,
          failure: o.failure ? `${o.failure.step}: ${forPeople(o.failure.message)}` : null,
        };
      }),
    ),
    running: d.info.runningActions.map((a) => a.workflow.workflowId),
    missedCatchupWindow: d.info.numActionsMissedCatchupWindow,
    skippedOverlap: d.info.numActionsSkippedOverlap,
  };
  const recent = info.recentRuns.map(
    (r) => `${r.scheduledAt} → ${r.runId ?? r.workflowId} ${r.outcome}${r.failure ? ` (${r.failure})` : ''}`,
  );
  out(
    [
      `${d.scheduleId}: ${s ? scheduleInWords(s) : ''}${s?.cron ? ` (cron "${s.cron}")` : ''}, overlap ${s?.overlap}, catch-up ${s?.catchupWindow}${d.state.paused ? ' (PAUSED)' : ''}`,
      `  pipeline  ${forPeople(s?.pipelineFile)}`,
      `  next      ${info.nextRuns.slice(0, 3).join(', ') || '—'}`,
      `  recent    ${recent.join('\n            ') || '—'}`,
      `  skipped   ${info.skippedOverlap} (overlap), missed ${info.missedCatchupWindow} (outside catch-up window)`,
    ].join('\n'),
    info,
  );
  return EXIT.ok;
}

async function changeState(
  client: Client,
  action: 'pause' | 'unpause' | 'delete',
  values: Values,
  out: Out,
): Promise<number> {
  const name = pipelineName(values);
  const handle = client.schedule.getHandle(scheduleIdFor(name));
  if (action === 'pause') await handle.pause(values.note ?? 'paused from the funnelcast CLI');
  if (action === 'unpause') await handle.unpause(values.note ?? 'unpaused from the funnelcast CLI');
  if (action === 'delete') await handle.delete();
  out(`${action}: ${scheduleIdFor(name)} done.`, { scheduleId: scheduleIdFor(name), action, ok: true });
  return EXIT.ok;
}

/** `schedule trigger`: starts a run now and (unless --no-wait) reports how it really ended, with the run's exit code. */
async function trigger(client: Client, pipeline: string, wait: boolean, out: Out): Promise<number> {
  const id = scheduleIdFor(pipeline);
  const o = await triggerAndWait(client, client.schedule.getHandle(id), {
    wait,
    onWaiting: (r) =>
      process.stderr.write(`Triggered ${id}: run ${r.runId}; waiting for it (funnelcast status ${r.runId} --watch)\n`),
  });
  const facts = o.runId && o.outcome !== 'RUNNING' ? await runFacts(client, o.runId).catch(() => null) : null;
  const lines = [
    o.outcome === 'SKIPPED'
      ? `Triggered ${id}: no run started (${o.failure?.message}).`
      : `Triggered ${id}: run ${o.runId ?? `(planning ${o.workflowId})`} ${o.outcome}` +
        `${o.started === false && o.outcome === 'COMPLETED' ? ' (the same run, on the same data and cutoff, had already finished)' : ''}.`,
  ];
  if (o.failure && o.outcome !== 'SKIPPED')
    lines.push(`  failed in step ${o.failure.step}: ${forPeople(o.failure.message)}`);
  if (facts?.summary?.cutoffNote) lines.push(`  (${facts.summary.cutoffNote})`);
  if (facts && o.runId)
    lines.push(
      ...describeFacts(o.runId, o.outcome, { ...facts, failure: null })
        .trimEnd()
        .split('\n')
        .slice(1),
    );
  out(lines.join('\n'), { scheduleId: id, action: 'trigger', ...o, summary: facts?.summary ?? null });
  return o.exitCode;
}
