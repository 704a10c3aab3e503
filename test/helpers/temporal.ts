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
