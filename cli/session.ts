/**
 * Connects a CLI command to Temporal: TEMPORAL_ADDRESS when set, else the embedded dev server (started here and
 * stopped on exit, or reused when `funnelcast up` already runs it). When this process started the server, it
 * also runs a worker in-process so the command works on its own.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger } from '@temporalio/worker';
import { ensureServer, temporalNamespace, type DevServer } from '../infra/temporal';
import { createWorker } from '../worker';

export interface Session {
  client: Client;
  server: DevServer;
  /** True when a worker runs inside this process. */
  inProcessWorker: boolean;
}

let runtimeInstalled = false;
function quietRuntime() {
  // The SDK logs every worker state change at INFO; CLI users want their own output only.
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger((process.env.FUNNELCAST_LOG_LEVEL as 'WARN') ?? 'WARN') });
  } catch {
    // Already installed by the host (a test, or a program embedding funnelcast): keep theirs.
  }
}

export async function withSession<T>(
  opts: { worker?: 'auto' | 'yes' | 'no' },
  fn: (s: Session) => Promise<T>,
): Promise<T> {
  quietRuntime();
  const server = await ensureServer();
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: temporalNamespace() });
  const wantWorker = opts.worker === 'yes' || ((opts.worker ?? 'auto') === 'auto' && server.owned);
  try {
    if (!wantWorker) return await fn({ client, server, inProcessWorker: false });
    const native = await NativeConnection.connect({ address: server.address });
    try {
      const worker = await createWorker({ connection: native });
      return await worker.runUntil(fn({ client, server, inProcessWorker: true }));
    } finally {
      await native.close();
    }
  } finally {
    await connection.close();
    await server.stop();
  }
}
