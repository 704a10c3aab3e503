/**
 * `funnelcast backfill`: the pipeline for each past cutoff in [from, to], as one backfill workflow with child
 * runs (ids = run ids, `<pipeline>-<cutoff>-<content key>`), bounded concurrency, and a per-cutoff metrics table.
 */
import { parseArgs } from 'node:util';
import { parseDateOption } from './dates';
import { loadPipeline } from '../pipelines/load';
import { durationMs } from '../pipelines/schema';
import { TASK_QUEUE } from '../infra/temporal';
import type { Client } from '@temporalio/client';
import type { BackfillInput, BackfillProgress, BackfillRow } from '../workflows/backfill';
import type { StepProgress } from '../workflows/types';
import { scheduleIdFor } from './schedule';
import { withSession } from './session';
import { EXIT, int, num, pct, table, UsageError, print } from './format';
import { forPeople, portableDefinition } from './edge';

export const BACKFILL_HELP = `Usage: funnelcast backfill --pipeline <p> --from <date> --to <date> --every <interval> [--concurrency n] [--train-only] [--via-schedule] [--json]

Runs the pipeline at each cutoff from --from to --to (inclusive) every --every. Each run is point-in-time
correct: its features use only events before its cutoff, whenever it runs. A cutoff is skipped when the same
run (same definition, engine and parameters, loaded data and cutoff) already finished, so repeating a backfill
adds nothing; after a change to the definition or new data the cutoffs run again, as new runs.

  --concurrency n   runs at once                                         [default: 2]
  --train-only      skip scoring and exports (measure the model over time)
  --via-schedule    also ask the pipeline's Temporal Schedule to backfill the range (its own runs)

Example:
  funnelcast backfill --pipeline sample --from 2024-01-01 --to 2024-03-01 --every 2w --concurrency 2
`;

const MAX_CUTOFFS = 500;

export function expandCutoffs(from: string, to: string, every: string): string[] {
  // Real calendar dates only (cli/dates.ts): `2024-02-30` or `1` are usage errors, not 1 March or the year 2001.
  const start = new Date(parseDateOption('from', from));
  const end = new Date(parseDateOption('to', to));
  if (end < start) throw new UsageError('--to is before --from');
  const step = durationMs(every);
  if (step <= 0) throw new UsageError('--every must be positive');
  const n = Math.floor((end.getTime() - start.getTime()) / step) + 1;
  if (n > MAX_CUTOFFS)
    throw new UsageError(`that is ${n} cutoffs; at most ${MAX_CUTOFFS} per backfill (use a larger --every)`);
  return Array.from({ length: n }, (_, i) => new Date(start.getTime() + i * step).toISOString());
}

export const backfillWorkflowId = (pipeline: string, hash: string, cutoffs: string[], every: string) =>
  `backfill-${pipeline}-${cutoffs[0].slice(0, 10)}-${cutoffs.at(-1)!.slice(0, 10)}-${every}-${hash.slice(0, 8)}`;

export async function backfillCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      pipeline: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      every: { type: 'string' },
      concurrency: { type: 'string', default: '2' },
      'train-only': { type: 'boolean', default: false },
      'via-schedule': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    print(BACKFILL_HELP);
    return EXIT.ok;
  }
  if (!values.pipeline || !values.from || !values.to || !values.every)
    throw new UsageError(`--pipeline, --from, --to and --every are required\n\n${BACKFILL_HELP}`);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 16)
    throw new UsageError('--concurrency must be an integer from 1 to 16');
  const loaded = loadPipeline(values.pipeline);
  const cutoffs = expandCutoffs(values.from, values.to, values.every);
  const input: BackfillInput = {
    ...(await portableDefinition(loaded)),
    cutoffs,
    concurrency,
    trainOnly: values['train-only'],
  };
  // The definition's hash is in the id, so a backfill of another definition of the pipeline (another engine, other
  // parameters) over the same range does not attach to this one while it runs.
  const workflowId = backfillWorkflowId(loaded.definition.name, loaded.hash, cutoffs, values.every);

  return withSession({ worker: 'auto' }, async ({ client }) => {
    if (values['via-schedule']) {
      const handle = client.schedule.getHandle(scheduleIdFor(loaded.definition.name));
      await handle.backfill({ start: new Date(values.from!), end: new Date(values.to!), overlap: 'BUFFER_ALL' });
      process.stderr.write(
        `Asked schedule ${scheduleIdFor(loaded.definition.name)} to backfill ${values.from} … ${values.to}.\n`,
      );
    }
    process.stderr.write(
      `Backfilling ${cutoffs.length} cutoffs of ${loaded.definition.name} (${workflowId}), ${concurrency} at a time…\n`,
    );
    const handle = await client.workflow.start('backfillWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
    const stop = values.json ? () => {} : followBackfill(client, workflowId);
    let rows: BackfillRow[];
    try {
      rows = forPeople((await handle.result()) as BackfillRow[]);
    } finally {
      stop();
    }
    const count = (status: string) => rows.filter((r) => r.status.startsWith(status)).length;
    if (!values.json)
      process.stderr.write(
        `  … ${rows.length}/${rows.length} cutoffs done (${count('failed')} failed, ${count('skipped')} skipped)\n`,
      );
    print(values.json ? JSON.stringify({ workflowId, rows }, null, 2) + '\n' : backfillTable(rows) + '\n');
    return rows.some((r) => r.status === 'failed') ? EXIT.failed : EXIT.ok;
  });
}

/** One line per cutoff: its status, data, model and lists (expected vs realised conversions). */
function backfillTable(rows: BackfillRow[]): string {
  return table(
    ['cutoff', 'status', 'users', 'label rate', 'ROC AUC', 'PR AUC', 'model', 'lists: expected → realised conversions'],
    rows.map((r) => [
      r.cutoff,
      r.status,
      int(r.users),
      pct(r.labelRate),
      num(r.rocAuc),
      num(r.prAuc),
      r.modelVersion ?? r.error ?? '—',
      listsCell(r.lists),
    ]),
  );
}

/** "likely_buyers 58.5 → 61, win_back 12.0 → —": expected within the horizon vs realised (— when not observed). */
function listsCell(lists: BackfillRow['lists']): string {
  if (!lists?.length) return '—';
  return lists
    .map((l) => `${l.campaign} ${l.expected.toFixed(1)} → ${l.realised == null ? '—' : int(l.realised)}`)
    .join(', ');
}

/**
 * One line on a backfill's progress: cutoffs done / total, and the step of each run in progress (asked of the
 * child runs themselves, by the run ids the backfill planned).
 */
export async function backfillProgressLine(client: Client, workflowId: string): Promise<string> {
  const p = await client.workflow.getHandle(workflowId).query<BackfillProgress>('progress');
  if (p.phase === 'planning') return `planning ${p.total} cutoffs (definition, extract, run ids)`;
  const now = await Promise.all(
    p.running.map(async (cutoff) => {
      const runId = p.runIds?.[cutoff];
      try {
        const r = await client.workflow.getHandle(runId ?? '').query<StepProgress>('progress');
        return `${cutoff.slice(0, 10)} ${r.step}${r.foldsTotal ? ` (folds ${r.foldsDone}/${r.foldsTotal})` : ''}`;
      } catch {
        return `${cutoff.slice(0, 10)} starting`; // the child has not run its first task yet
      }
    }),
  );
  return (
    `${p.done}/${p.total} cutoffs done` +
    (p.skipped ? `, ${p.skipped} skipped (already done)` : '') +
    (p.failed ? `, ${p.failed} failed` : '') +
    (now.length ? ` · running: ${now.join('; ')}` : '')
  );
}

/** Prints the backfill's progress on stderr every second while it runs (a line each time it changes). */
function followBackfill(client: Client, workflowId: string): () => void {
  let last = '';
  let stopped = false;
  let busy = false; // a query can take longer than the interval: one at a time, so lines never go backwards
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const line = await backfillProgressLine(client, workflowId);
      if (!stopped && line !== last) process.stderr.write(`  … ${line}\n`);
      last = line;
    } catch {
      // Not started yet, or finishing: the next tick (or the result) tells.
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), 1000);
  void tick();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
