/**
 * `funnelcast rerun <run> --from <step>`: re-executes a run from one of its steps (what Metaflow calls resume), under
 * a new run id that records its origin. The origin's results of the earlier steps are reused only when the rerun's
 * inputs are the origin's (same run key); otherwise every step runs again and the summary says why.
 */
import { parseArgs } from 'node:util';
import { WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { TASK_QUEUE } from '../infra/temporal';
import {
  RERUN_STEPS,
  type PublishResult,
  type RerunStep,
  type RunInput,
  type RunSummary,
  type StartedRun,
} from '../workflows/types';
import { withSession } from './session';
import { EXIT, print, UsageError } from './format';
import { formatSummary, watchProgress } from './run';
import { definitionNow, forPeople, portable } from './edge';

export const RERUN_HELP = `Usage: funnelcast rerun <run> --from <step> [--json] [--no-worker]

Re-executes a run from a step, under a new run id (<pipeline>-<cutoff>-<key>) whose summary records the run it
came from. The steps before <step> reuse the origin's results (its CV folds, holdout models, publish decision)
when the rerun's inputs are the origin's: the same definition, data, cutoff and code (the same run key). When
any of them changed, nothing is reused and every step runs again; the summary says which.

Steps: ${RERUN_STEPS.join(', ')}

Options:
  --from <step>   the first step to execute again                                  [required]
  --json          print one JSON object on stdout (the run's summary, with "rerun")
  --no-worker     do not start an in-process worker (workers run elsewhere)

Examples:
  funnelcast rerun sample-20240430T000000Z-3f9c2a61d0 --from publish
  funnelcast rerun sample-20240430T000000Z-3f9c2a61d0 --from train --json
`;

export async function rerunCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      from: { type: 'string' },
      json: { type: 'boolean', default: false },
      'no-worker': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    print(RERUN_HELP);
    return EXIT.ok;
  }
  const of = positionals[0];
  if (!of || positionals.length > 1) throw new UsageError('give one run id: funnelcast rerun <run> --from <step>');
  const from = values.from as RerunStep | undefined;
  if (!from || !RERUN_STEPS.includes(from))
    throw new UsageError(`--from must be one of ${RERUN_STEPS.join(', ')} (got ${values.from ?? 'nothing'})`);
  return withSession({ worker: values['no-worker'] ? 'no' : 'auto' }, async ({ client, server }) => {
    const origin = await originOf(client, of);
    if (!origin) {
      process.stderr.write(`No run ${of}: \`funnelcast runs list\` shows the run ids\n`);
      return EXIT.notFound;
    }
    const pinned = portable(origin.input.plan?.loaded.file ?? origin.input.pipeline);
    const input: RunInput = {
      // A definition that travelled by content is re-read from its file when this machine started it (edited:
      // inputs changed), else the run's copy keeps the folder its sources are read from (cli/edge.ts).
      ...((await definitionNow(pinned)) ?? { pipeline: pinned, ...sourcesDirOf(origin.input) }),
      cutoff: origin.input.plan?.run.cutoff ?? origin.input.cutoff,
      trigger: origin.input.trigger,
      trainOnly: origin.input.trainOnly,
      replaceIncomparable: origin.input.replaceIncomparable,
      rerun: { of, from, publish: origin.publish },
    };
    const started = (await client.workflow.execute('startRunWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId: `plan-rerun-${of}-${Date.now().toString(36)}`,
      args: [{ ...input, wait: false }],
    })) as StartedRun;
    const handle = client.workflow.getHandle(started.runId);
    if (!values.json) process.stderr.write(`  … rerun of ${of} from ${from}: run ${started.runId}\n`);
    const stop = watchProgress(() => handle.query('progress'), values.json);
    try {
      const summary = forPeople((await handle.result()) as RunSummary);
      await stop();
      const ui = server.uiUrl ? `${server.uiUrl}/namespaces/default/workflows/${started.runId}` : null;
      print(
        values.json
          ? JSON.stringify({ workflowId: started.runId, ...summary }, null, 2) + '\n'
          : formatSummary(summary, ui),
      );
      return EXIT.ok;
    } catch (e) {
      await stop();
      if (!(e instanceof WorkflowFailedError)) throw e;
      const cause = (e.cause as Error | undefined)?.cause ?? e.cause;
      process.stderr.write(`Rerun ${started.runId} failed: ${forPeople((cause as Error)?.message ?? e.message)}\n`);
      return EXIT.failed;
    }
  });
}

/** The origin run's input and, when its publish step finished, that step's result (both from its history). */
async function originOf(
  client: Client,
  runId: string,
): Promise<{ input: RunInput; publish: PublishResult | null } | null> {
  let history;
  try {
    history = await client.workflow.getHandle(runId).fetchHistory();
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return null;
    throw e;
  }
  const events = history.events ?? [];
  const started = events[0]?.workflowExecutionStartedEventAttributes;
  if (!started || started.workflowType?.name !== 'retrainWorkflow') return null;
  const input = defaultPayloadConverter.fromPayload<RunInput>(started.input!.payloads![0]);
  const scheduled = new Map<string, string>();
  let publish: PublishResult | null = null;
  for (const ev of events) {
    const s = ev.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(ev.eventId), s.activityType?.name ?? '');
    const c = ev.activityTaskCompletedEventAttributes;
    if (c && scheduled.get(String(c.scheduledEventId)) === 'publishModel' && c.result?.payloads?.[0])
      publish = defaultPayloadConverter.fromPayload<PublishResult>(c.result.payloads[0]);
  }
  return { input, publish };
}

function sourcesDirOf(input: RunInput): { sourcesDir?: string } {
  if (input.sourcesDir) return { sourcesDir: input.sourcesDir };
  const loaded = input.plan?.loaded;
  return loaded?.file.startsWith('definitions/') ? { sourcesDir: portable(loaded.baseDir) } : {};
}
