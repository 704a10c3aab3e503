/**
 * A blend of chosen parts in a real run (real Temporal dev server, real DuckDB, the bundled sample):
 * `model.blend.parts: ["forest", "boosted"]` trains both parts on the holdout split, reports them beside the blend,
 * publishes a blend of exactly those two (no LSTM, so scoring reads no sequences) and scores every user with it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createWorker, type FunnelcastWorker } from '../../worker';
import { projectRoot } from '../../infra/root';
import { withDuckDB } from '../../warehouse/db';
import { blendOf } from '../../ml/scorer';
import type { RunSummary } from '../../workflows/types';
import { startTestServer, uniqueQueue, useTempHome } from '../helpers/temporal';

function blendPipeline(): string {
  const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
  def.name = 'sample_blend_boosted';
  def.sources.events.path = join(projectRoot(), 'data', 'sample', 'events.csv.gz');
  def.model = {
    engine: 'blend',
    seed: 42,
    blend: { parts: ['forest', 'boosted'] },
    forest: { nTrees: 30, maxDepth: 8 },
    boosted: { nRounds: 40 },
    baselines: ['logistic'],
  };
  def.cv = { strategy: 'none' };
  const file = join(mkdtempSync(join(tmpdir(), 'fc-blend-')), 'sample_blend_boosted.json');
  writeFileSync(file, JSON.stringify(def));
  return file;
}

async function scores(file: string): Promise<Map<string, number>> {
  return withDuckDB(':memory:', async (c) => {
    const rows = (await c.runAndReadAll(`SELECT user_id, score FROM read_parquet($p)`, { p: file })).getRows();
    return new Map(rows.map((r) => [String(r[0]), Number(r[1])]));
  });
}

describe('engine "blend" with boosted trees as a part (real Temporal + DuckDB)', { timeout: 600_000 }, () => {
  let env: TestWorkflowEnvironment;
  let worker: FunnelcastWorker;
  let connection: NativeConnection;
  let running: Promise<void>;
  const taskQueue = uniqueQueue('blend');

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

  it('blends the forest and the boosted trees, reports both parts, and scores every user', async () => {
    const s: RunSummary = await env.client.workflow.execute('retrainWorkflow', {
      taskQueue,
      workflowId: `test-blend-boosted-${Date.now()}`,
      args: [{ pipeline: blendPipeline(), trigger: 'test' }],
    });
    assert.equal(s.model.engine, 'blend');
    assert.deepEqual(s.model.baselines.map((b) => b.engine).sort(), ['boosted', 'forest', 'logistic']);
    const models = join(s.runDir, 'models');
    const m = JSON.parse(readFileSync(join(models, 'blend-holdout.model.json'), 'utf8'));
    assert.deepEqual(Object.keys(m.payload.parts), ['forest', 'boosted']);
    assert.equal(m.payload.parts.boosted.engine, 'boosted');
    assert.ok(!readdirSync(models).some((f) => f.startsWith('lstm-')), 'no LSTM trained for this blend');
    // The blend's held-out probabilities are the mean log-odds of its two parts', user by user.
    const [pb, pf, pg] = await Promise.all(
      ['blend', 'forest', 'boosted'].map((e) => scores(join(models, `${e}-holdout.predictions.parquet`))),
    );
    assert.ok(pb.size > 0);
    assert.equal(pb.size, pf.size);
    for (const [id, v] of pb)
      assert.ok(Math.abs(v - blendOf([pf.get(id)!, pg.get(id)!], [0.5, 0.5], 'logit')) < 1e-9, id);
    const h = s.model.holdout!;
    assert.ok(h.roc_auc > 0.6 && h.roc_auc <= 1, `holdout AUC ${h.roc_auc}`);
    assert.ok(s.scoring && s.scoring.users === s.features.users, 'every featured user scored by the blend');
    const scored = await withDuckDB(':memory:', async (c) =>
      Number(
        (
          await c.runAndReadAll(`SELECT count(*) FROM read_parquet($p) WHERE propensity BETWEEN 0 AND 1`, {
            p: s.scoring!.scoresPath,
          })
        ).getRows()[0][0],
      ),
    );
    assert.equal(scored, s.scoring.users);
  });
});
