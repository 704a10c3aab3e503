/**
 * The Temporal server is stopped in the middle of a run and started again on the same SQLite file and port:
 * the workflow's history survives, the worker reconnects, and the run completes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { createWorker } from '../../worker';
import { projectRoot } from '../../infra/root';
import type { RunSummary, StepProgress } from '../../workflows/types';
import { startTestServer, uniqueQueue, useTempHome } from '../helpers/temporal';
import { tempDir } from '../helpers/warehouse';
import { forPeople } from '../../cli/edge';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('Temporal server restart mid-run', { timeout: 600_000 }, () => {
  it('the run completes after the server is stopped and started again on the same database', async () => {
    useTempHome('funnelcast-restart-');
    const dir = tempDir('fc-restart-');
    const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
    def.name = 'restart';
    def.sources.events.path = join(projectRoot(), 'data', 'sample', 'events.csv.gz');
    def.model.forest = { nTrees: 300, maxDepth: 14, minSamplesLeaf: 1 };
    def.cv = { strategy: 'kfold', folds: 3 };
    const file = join(dir, 'restart.json');
    writeFileSync(file, JSON.stringify(def));
    const db = join(dir, 'temporal.sqlite');
    const port = await freePort();
    const taskQueue = uniqueQueue('restart');

    let env = await startTestServer({ dbFilename: db, port });
    const connection = await NativeConnection.connect({ address: env.address });
    const worker = await createWorker({ connection, taskQueue });
    const running = worker.run();
    const workflowId = `restart-${Date.now()}`;
    const handle = await env.client.workflow.start('retrainWorkflow', {
      taskQueue,
      workflowId,
      args: [{ pipeline: file }],
    });
    for (;;) {
      const p = await handle.query<StepProgress>('progress').catch(() => null);
      if (p && (p.step === 'cross-validate' || p.step === 'train')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await env.teardown();
    await new Promise((r) => setTimeout(r, 2000));
    env = await startTestServer({ dbFilename: db, port });
    try {
      const summary = (await env.client.workflow.getHandle(workflowId).result().then(forPeople)) as RunSummary;
      assert.ok(summary.publish?.version.startsWith('v0001'));
      assert.ok(summary.model.cv && summary.model.cv.folds.length === 3);
      assert.equal(
        summary.extract.read,
        summary.extract.loaded + summary.extract.duplicates + summary.extract.quarantined,
      );
    } finally {
      worker.shutdown();
      await running.catch(() => undefined);
      await connection.close().catch(() => undefined);
      await env.teardown();
    }
  });
});
