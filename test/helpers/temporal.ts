/**
 * Integration-test helpers: a real Temporal dev server (the provisioned CLI binary, as an `existing-path`
 * executable), a real worker on a unique task queue, and a temporary FUNNELCAST_HOME so tests never share state.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { temporalCliForTests } from '../../infra/temporal';

let runtimeReady = false;

export async function startTestServer(
  opts: { dbFilename?: string; port?: number } = {},
): Promise<TestWorkflowEnvironment> {
  if (!runtimeReady) {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeReady = true;
  }
  // CI's run against the official Temporal server on PostgreSQL (scripts/temporal-postgres.sh) instead of the dev server.
  const external = process.env.FUNNELCAST_TEST_TEMPORAL_ADDRESS;
  if (external) return TestWorkflowEnvironment.createFromExistingServer({ address: external });
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCliForTests() },
      dbFilename: opts.dbFilename,
      port: opts.port,
      extraArgs: ['--log-level', 'error'],
    },
  });
}

/** A fresh state folder for one test file; sets FUNNELCAST_HOME for the activities run in this process. */
export function useTempHome(prefix = 'funnelcast-test-'): string {
  const home = mkdtempSync(join(tmpdir(), prefix));
  process.env.FUNNELCAST_HOME = home;
  return home;
}

export const uniqueQueue = (name: string) => `${name}-${process.pid}-${Date.now()}`;

/** Polls `probe` until it returns something other than undefined (the integration tests' one waiting loop). */
export async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined> | T | undefined,
  everyMs = 300,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A real dev server, TEMPORAL_ADDRESS pointing at it (the CLI commands use it) and a worker on the default task queue
 * running in this process, for a test file's `before`; `stop` is its `after`.
 */
export async function startServerAndWorker(): Promise<{
  env: TestWorkflowEnvironment;
  stop: () => Promise<void>;
}> {
  const env = await startTestServer();
  process.env.TEMPORAL_ADDRESS = env.address;
  const { NativeConnection } = await import('@temporalio/worker');
  const { createWorker } = await import('../../worker');
  const { TASK_QUEUE } = await import('../../infra/temporal');
  const connection = await NativeConnection.connect({ address: env.address });
  const worker = await createWorker({ connection, taskQueue: TASK_QUEUE });
  const running = worker.run();
  return {
    env,
    stop: async () => {
      delete process.env.TEMPORAL_ADDRESS;
      worker.shutdown();
      await running;
      await connection.close();
      await env.teardown();
    },
  };
}
