/**
 * Connects a CLI command to Temporal: TEMPORAL_ADDRESS when set, else this home's embedded dev server (started
 * here, or joined when another command of this home runs it; the last one out stops it). `run` and `backfill`
 * also run a worker in-process on the embedded server, so each works on its own.
 */
import { inspect } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger, type LogEntry } from '@temporalio/worker';
import { ensureServer, temporalConnectionOptions, temporalNamespace, type DevServer } from '../infra/temporal';
import { createWorker } from '../worker';

export interface Session {
  client: Client;
  server: DevServer;
  /** True when a worker runs inside this process. */
  inProcessWorker: boolean;
}

let runtimeInstalled = false;
const interrupt = { happened: false };
const defaultLog = (e: LogEntry) =>
  process.stderr.write(
    `${new Date(Number(e.timestampNanos / 1_000_000n)).toISOString()} [${e.level}] ${e.message}` +
      `${e.meta ? ` ${inspect(e.meta)}` : ''}\n`,
  );
function quietRuntime() {
  // The SDK logs every worker state change at INFO; CLI users want their own output only.
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({
      // Once interrupted, the activities the worker cancels on its way out are expected, not news.
      logger: new DefaultLogger((process.env.FUNNELCAST_LOG_LEVEL as 'WARN') ?? 'WARN', (entry) => {
        if (!interrupt.happened) defaultLog(entry);
      }),
      // Signals are ours (see onInterrupt): the SDK's own handler shuts the worker down under a pending command,
      // which then fails with "Promise did not resolve within 0ms after Worker completed shutdown".
      shutdownSignals: [],
      // The SDK's native side prints its own warnings on stdout by default, which breaks `--json` output.
      telemetryOptions: { logging: { forward: {} } },
    });
  } catch {
    // Already installed by the host (a test, or a program embedding funnelcast): keep theirs.
  }
}

/** A command stopped by SIGINT or SIGTERM (exit code 5, cancelled). */
export class InterruptedError extends Error {
  constructor(
    readonly signal: string,
    detail?: string,
  ) {
    super(`interrupted by ${signal}${detail ? `: ${detail}` : ''}`);
    this.name = 'InterruptedError';
  }
}

/**
 * The first SIGINT/SIGTERM rejects `interrupted`, so the command unwinds: its worker shuts down, its lease on the
 * server ends. A second signal, or an unwinding that takes more than 20 s, exits at once with the cancelled code.
 */
function onInterrupt(): { interrupted: Promise<never>; dispose: () => void } {
  let reject: (e: Error) => void = () => undefined;
  const interrupted = new Promise<never>((_, r) => (reject = r));
  interrupted.catch(() => undefined); // observed by whoever races it; never an unhandled rejection
  let count = 0;
  const handler = (signal: NodeJS.Signals) => {
    if (++count > 1) process.exit(5);
    interrupt.happened = true;
    setTimeout(() => process.exit(5), 20_000).unref();
    reject(new InterruptedError(signal));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    interrupted,
    dispose: () => {
      process.removeListener('SIGINT', handler);
      process.removeListener('SIGTERM', handler);
    },
  };
}

export async function withSession<T>(
  opts: { worker?: 'auto' | 'yes' | 'no' },
  fn: (s: Session) => Promise<T>,
): Promise<T> {
  quietRuntime();
  const { interrupted, dispose } = onInterrupt();
  try {
    const server = await Promise.race([ensureServer(), interrupted]);
    try {
      return await withServer(server, opts, (s) => Promise.race([fn(s), interrupted]));
    } finally {
      await server.stop();
    }
  } finally {
    dispose();
  }
}

async function withServer<T>(
  server: DevServer,
  opts: { worker?: 'auto' | 'yes' | 'no' },
  fn: (s: Session) => Promise<T>,
): Promise<T> {
  const connection = await Connection.connect({
    address: server.address,
    ...(server.embedded ? {} : temporalConnectionOptions()),
  });
  const client = new Client({ connection, namespace: temporalNamespace() });
  // Any process of this home may serve its embedded server: a run then never depends on another command staying
  // up (a concurrent run, or a killed one whose workflow this run adopts).
  const wantWorker = opts.worker === 'yes' || ((opts.worker ?? 'auto') === 'auto' && server.embedded);
  try {
    if (!wantWorker) return await fn({ client, server, inProcessWorker: false });
    const native = await NativeConnection.connect({
      address: server.address,
      ...(server.embedded ? {} : temporalConnectionOptions()),
    });
    try {
      const worker = await createWorker({ connection: native });
      return await worker.runUntil(fn({ client, server, inProcessWorker: true }));
    } finally {
      await native.close();
    }
  } finally {
    // After an interrupt the abandoned result() call still retries on this connection: closing it under that retry
    // throws "Channel has been shut down" from a timer. The process exits right after, which closes it.
    if (!interrupt.happened) await connection.close();
  }
}
