/**
 * `funnelcast worker --queues …`: one worker process for chosen kinds of work (workflows/queues.ts), so a run can
 * spread over machines that share only the Temporal server and the artifact store (docs/deploy.md).
 */
import { parseArgs } from 'node:util';
import { funnelcastHome } from '../infra/paths';
import { parseQueueKinds, QUEUE_KINDS } from '../workflows/queues';
import { queuesOf, runWorkerUntilStopped } from '../worker';
import { EXIT, print, UsageError } from './format';

export const WORKER_HELP = `Usage: funnelcast worker [--queues workflows,io,cpu,warehouse]

Serves the chosen task queues until Ctrl-C (default: all four, as "funnelcast up" does):
  workflows   the runs' workflows (light)
  io          short I/O steps: definitions, run bookkeeping, deliveries, the report
  cpu         training and scoring (add as many of these workers as you like, on any machine)
  warehouse   extract, features, segments, publish: the steps that open the pipeline's DuckDB file; run it on
              the machine that holds $FUNNELCAST_HOME/warehouse

With several machines, set FUNNELCAST_STORE=s3://bucket/prefix (and the AWS variables) on every worker: steps then
hand each other store keys, and each worker keeps its own cache ($FUNNELCAST_CACHE).

Example:
  funnelcast worker --queues cpu      # one more training worker
`;

export async function workerCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      queues: { type: 'string', default: QUEUE_KINDS.join(',') },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    print(WORKER_HELP);
    return EXIT.ok;
  }
  let kinds;
  try {
    kinds = parseQueueKinds(values.queues);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  await runWorkerUntilStopped(
    (server) =>
      `funnelcast worker on ${server.address}: ${queuesOf(kinds)}; state ${funnelcastHome()}` +
      `${process.env.FUNNELCAST_STORE ? `; store ${process.env.FUNNELCAST_STORE}` : ''}\nPress Ctrl-C to stop.\n`,
    kinds,
  );
  return EXIT.ok;
}
