/**
 * `model.engine: "auto"` in a real run (real Temporal dev server, real DuckDB, the bundled sample): the candidates
 * are cross-validated on the run's folds, the best by ROC AUC is trained, published and reported, and the
 * summary says what was compared.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createWorker, type FunnelcastWorker } from '../../worker';
import { projectRoot } from '../../infra/root';
import type { RunSummary } from '../../workflows/types';
import { startTestServer, uniqueQueue, useTempHome } from '../helpers/temporal';
import { forPeople } from '../../cli/edge';

function autoPipeline(): string {
  const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
  def.name = 'sample_auto';
  def.sources.events.path = join(projectRoot(), 'data', 'sample', 'events.csv.gz');
  def.model = { engine: 'auto', seed: 42, forest: { nTrees: 30, maxDepth: 8 }, baselines: [] };
  def.churn = undefined;
  def.campaigns = def.campaigns.filter((c: { name: string }) => c.name !== 'keep_customers');
  const file = join(mkdtempSync(join(tmpdir(), 'fc-auto-')), 'sample_auto.json');
  writeFileSync(file, JSON.stringify(def));
  return file;
}

describe('engine "auto" (real Temporal + DuckDB)', { timeout: 600_000 }, () => {
  let env: TestWorkflowEnvironment;
  let worker: FunnelcastWorker;
  let connection: NativeConnection;
  let running: Promise<void>;
  const taskQueue = uniqueQueue('auto');

  before(async () => {
    useTempHome();
    env = await startTestServer();
    connection = await NativeConnection.connect({ address: env.address });
    worker = await createWorker({ connection, taskQueue });
    running = worker.run();
  });

  after(async () => {
    worker?.shutdown();
    await running;
    await connection?.close();
    await env?.teardown();
  });

  it('cross-validates forest, boosted and logistic, then trains and publishes the best', async () => {
    const s: RunSummary = await env.client.workflow.execute('retrainWorkflow', {
      taskQueue,
      workflowId: `test-auto-${Date.now()}`,
      args: [{ pipeline: autoPipeline(), trigger: 'test' }],
    }).then(forPeople);
    const sel = s.model.selection!;
    assert.ok(sel, 'the summary says how the engine was chosen');
    assert.equal(sel.metric, 'roc_auc');
    assert.deepEqual(
      sel.candidates.map((c) => c.engine),
      ['forest', 'boosted', 'logistic'],
    );
    const best = sel.candidates.reduce((a, b) => (b.mean > a.mean ? b : a));
    assert.equal(sel.chosen, best.engine);
    assert.equal(s.model.engine, sel.chosen, 'the chosen engine is the one trained and published');
    // The CV step that follows reports the chosen engine's folds: the same mean the selection saw.
    assert.equal(s.model.cv!.mean.roc_auc, best.mean);
    assert.ok(s.publish?.version);
    assert.match(readFileSync(s.reportPath!, 'utf8'), /Engine chosen automatically/);
  });
});
