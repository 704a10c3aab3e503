/**
 * `funnelcast up`: the long-running form of the embedded default. Starts (or reuses) the local Temporal dev
 * server and runs a worker until Ctrl-C, so schedules fire and other `funnelcast` commands attach to it.
 */
import { parseArgs } from 'node:util';
import { funnelcastHome } from '../infra/paths';
import { kindsOf, queuesOf, runWorkerUntilStopped } from '../worker';
import { EXIT, print } from './format';

export const UP_HELP = `Usage: funnelcast up

Starts the embedded Temporal dev server (SQLite under $FUNNELCAST_HOME/temporal, Web UI on port 8233) and a
worker, and keeps both running until Ctrl-C. Scheduled retrains only fire while a worker runs.
With TEMPORAL_ADDRESS set, only the worker starts.

Example:
  funnelcast up &      # then: funnelcast schedule create --pipeline sample --every 1d
`;

export async function upCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h', default: false } } });
  if (values.help) {
    print(UP_HELP);
    return EXIT.ok;
  }
  await runWorkerUntilStopped(
    (server) =>
      `funnelcast is up: Temporal ${server.address}${server.uiUrl ? ` (Web UI ${server.uiUrl})` : ''}, ${queuesOf(kindsOf('both'))}, state ${funnelcastHome()}\n` +
      `Press Ctrl-C to stop.\n`,
  );
  return EXIT.ok;
}
