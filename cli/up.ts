/**
 * `funnelcast up`: the long-running form of the embedded default. Starts (or reuses) the local Temporal dev
 * server and runs a worker until Ctrl-C, so schedules fire and other `funnelcast` commands attach to it.
 */
import { parseArgs } from 'node:util';
import { NativeConnection } from '@temporalio/worker';
import { ensureServer, TASK_QUEUE } from '../infra/temporal';
import { funnelcastHome } from '../infra/paths';
import { createWorker } from '../worker';
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
  const server = await ensureServer();
  const connection = await NativeConnection.connect({ address: server.address });
  const worker = await createWorker({ connection });
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.stderr.write(
    `funnelcast is up: Temporal ${server.address}${server.uiUrl ? ` (Web UI ${server.uiUrl})` : ''}, task queue "${TASK_QUEUE}", state ${funnelcastHome()}\n` +
      `Press Ctrl-C to stop.\n`,
  );
  try {
    await worker.run();
  } finally {
    await connection.close();
    await server.stop();
  }
  return EXIT.ok;
}
