/**
 * `funnelcast up`: the long-running form of the embedded default. Starts (or reuses) the local Temporal dev
 * server and runs a worker until Ctrl-C, so schedules fire and other `funnelcast` commands attach to it.
 */
import { parseArgs } from 'node:util';
import { funnelcastHome } from '../infra/paths';
import { kindsOf, queuesOf, runWorkerUntilStopped } from '../worker';
import { EXIT, print, UsageError } from './format';
import { embeddedPort } from '../infra/temporal';
import { startObjectServer, type ObjectServer } from '../store/versitygw';
import { join } from 'node:path';

export const UP_HELP = `Usage: funnelcast up

Starts the embedded Temporal dev server (SQLite under $FUNNELCAST_HOME/temporal, Web UI on port 8233) and a
worker, and keeps both running until Ctrl-C. Scheduled retrains only fire while a worker runs.
With TEMPORAL_ADDRESS set, only the worker starts.

  --store local-s3   also start a local S3-compatible object store (Versity Gateway, objects under
                     $FUNNELCAST_HOME/objects, port $FUNNELCAST_S3_PORT or the Temporal port + 2) and use it as
                     FUNNELCAST_STORE, as a multi-machine deployment would (docs/deploy.md); stopped with the worker.
                     Other commands of this home must then be given the same FUNNELCAST_STORE and AWS_* variables
                     (the banner prints the store), or they run their own steps on the local store.

Example:
  funnelcast up &      # then: funnelcast schedule create --pipeline sample --every 1d
`;

export async function upCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { help: { type: 'boolean', short: 'h', default: false }, store: { type: 'string' } },
  });
  if (values.help) {
    print(UP_HELP);
    return EXIT.ok;
  }
  if (values.store !== undefined && values.store !== 'local-s3')
    throw new UsageError(`--store ${values.store}: the only store "up" can start is local-s3`);
  const objects = values.store ? await startLocalStore() : null;
  try {
    await runWorkerUntilStopped(
      (server) =>
        `funnelcast is up: Temporal ${server.address}${server.uiUrl ? ` (Web UI ${server.uiUrl})` : ''}, ${queuesOf(kindsOf('both'))}, state ${funnelcastHome()}` +
        `${objects ? `, store ${process.env.FUNNELCAST_STORE} at ${objects.endpoint}` : ''}\n` +
        `Press Ctrl-C to stop.\n`,
    );
  } finally {
    await objects?.stop();
  }
  return EXIT.ok;
}

/** Versity Gateway over the home's objects folder, set as this process's store (the worker reads the env). */
async function startLocalStore(): Promise<ObjectServer> {
  const port = Number(process.env.FUNNELCAST_S3_PORT ?? embeddedPort() + 2);
  const server = await startObjectServer({ dir: join(funnelcastHome(), 'objects'), bucket: 'funnelcast', port });
  Object.assign(process.env, server.env('funnelcast'));
  return server;
}
