/**
 * Operating runs: `funnelcast runs list`, `funnelcast status <run>`, `funnelcast cancel <run>`.
 * A <run> is a run id, `<pipeline>-<cutoff>-<content key>`, as printed by run, backfill and runs list: it is also
 * the run's workflow id and the name of its folder under runs/<pipeline>/.
 */
import { parseArgs } from 'node:util';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { StepProgress } from '../workflows/types';
import { withSession } from './session';
import { EXIT, progressBar, table, UsageError, print } from './format';

export const RUNS_HELP = `Usage:
  funnelcast runs list [--limit n] [--json]      recent pipeline runs, newest first
  funnelcast status <run> [--watch] [--json]     the live step, rows, folds of a run
  funnelcast cancel <run> [--json]               cancel a run: training stops, nothing half-published

Examples:
  funnelcast runs list --limit 10
  funnelcast status sample-20240301T000000Z-3f9c2a61d0 --watch
`;

export async function runsCommand(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      limit: { type: 'string', default: '20' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (action !== 'list' || values.help) {
    print(RUNS_HELP);
    return action === 'list' || values.help ? EXIT.ok : EXIT.usage;
  }
  const limit = Math.max(1, Math.min(1000, Number(values.limit) || 20));
  return withSession({ worker: 'no' }, async ({ client }) => {
    const rows: { workflowId: string; type: string; status: string; start: string; close: string | null }[] = [];
    for await (const w of client.workflow.list({ query: `WorkflowType IN ("retrainWorkflow", "backfillWorkflow")` })) {
      rows.push({
        workflowId: w.workflowId,
        type: w.type,
        status: w.status.name,
        start: w.startTime.toISOString(),
        close: w.closeTime?.toISOString() ?? null,
      });
      if (rows.length >= limit) break;
    }
    if (values.json) print(JSON.stringify(rows, null, 2) + '\n');
    else if (rows.length === 0) print('No runs yet. Start one with: funnelcast run\n');
    else
      print(
        table(
          ['run', 'type', 'status', 'started', 'closed'],
          rows.map((r) => [r.workflowId, r.type, r.status, r.start, r.close ?? '—']),
        ) + '\n',
      );
    return EXIT.ok;
  });
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
  if (values.help || positionals.length !== 1) {
    print(RUNS_HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const id = positionals[0];
  return withSession({ worker: 'no' }, async ({ client }) => {
    const handle = client.workflow.getHandle(id);
    for (;;) {
      const d = await handle.describe();
      let p: StepProgress | null = null;
      try {
        p = await handle.query<StepProgress>('progress');
      } catch {
        p = null; // closed workflows without a worker cannot answer queries
      }
      if (values.json)
        print(
          JSON.stringify({ workflowId: id, runId: p?.runId ?? id, status: d.status.name, progress: p }, null, 2) + '\n',
        );
      else {
        const head = `${id}: ${d.status.name}`;
        const body = p
          ? `${progressBar(p.stepsDone, p.stepsTotal)} ${p.step}${p.detail ? ` (${p.detail})` : ''}` +
            `${p.rows ? `, ${p.rows.toLocaleString('en-US')} rows` : ''}${p.foldsTotal ? `, folds ${p.foldsDone}/${p.foldsTotal}` : ''}`
          : '';
        if (process.stdout.isTTY && values.watch) print(`\r\x1b[2K${head} ${body}`);
        else print(`${head}${body ? `\n  ${body}` : ''}\n`);
      }
      if (!values.watch || d.status.name !== 'RUNNING') break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (process.stdout.isTTY && values.watch) print('\n');
    return EXIT.ok;
  }).catch((e) => {
    if (e instanceof WorkflowNotFoundError) {
      process.stderr.write(`No run with id ${id}. See: funnelcast runs list\n`);
      return EXIT.notFound;
    }
    throw e;
  });
}

export async function cancelCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help || positionals.length !== 1) {
    if (!values.help) throw new UsageError('give exactly one run id: funnelcast cancel <run>');
    print(RUNS_HELP);
    return EXIT.ok;
  }
  const id = positionals[0];
  return withSession({ worker: 'no' }, async ({ client }) => {
    await client.workflow.getHandle(id).cancel();
    if (values.json) print(JSON.stringify({ workflowId: id, cancelRequested: true }) + '\n');
    else print(`Cancellation requested for ${id}; running activities stop at their next heartbeat.\n`);
    return EXIT.ok;
  }).catch((e) => {
    if (e instanceof WorkflowNotFoundError) {
      process.stderr.write(`No run with id ${id}. See: funnelcast runs list\n`);
      return EXIT.notFound;
    }
    throw e;
  });
}
