/**
 * Boosted trees in real runs: `model.search` tunes the boosted engine on the run's folds, and a blend of chosen parts
 * in a real run (real Temporal dev server, real DuckDB, the bundled sample):
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
import { forPeople } from '../../cli/edge';

function samplePipeline(name: string, patch: (d: Record<string, any>) => void): string {
  const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
  def.name = name;
  def.sources.events.path = join(projectRoot(), 'data', 'sample', 'events.csv.gz');
  patch(def);
  const file = join(mkdtempSync(join(tmpdir(), `fc-${name}-`)), `${name}.json`);
  writeFileSync(file, JSON.stringify(def));
  return file;
}

const blendPipeline = () =>
  samplePipeline('sample_blend_boosted', (def) => {
    def.model = {
      engine: 'blend',
      seed: 42,
      blend: { parts: ['forest', 'boosted'] },
      forest: { nTrees: 30, maxDepth: 8 },
      boosted: { nRounds: 40 },
      baselines: ['logistic'],
    };
    def.cv = { strategy: 'none' };
  });

async function scores(file: string): Promise<Map<string, number>> {
  return withDuckDB(':memory:', async (c) => {
    const rows = (await c.runAndReadAll(`SELECT user_id, score FROM read_parquet($p)`, { p: file })).getRows();
    return new Map(rows.map((r) => [String(r[0]), Number(r[1])]));
  });
}

describe('boosted trees searched, and as a blend part (real Temporal + DuckDB)', { timeout: 600_000 }, () => {
  let env: TestWorkflowEnvironment;
  let worker: FunnelcastWorker;
  let connection: NativeConnection;
  let running: Promise<void>;
  const taskQueue = uniqueQueue('boosted-runs');

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
    }).then(forPeople);
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

  it('searches the boosted settings on the CV folds (model.search) and trains with the best trial', async () => {
    const file = samplePipeline('sample_boosted_search', (def) => {
      def.model = {
        engine: 'boosted',
        seed: 42,
        boosted: { nRounds: 40 },
        search: { trials: 3, seed: 5, budgetMinutes: 30, space: { numLeaves: [4, 8, 63], minDataInLeaf: [5, 40] } },
        baselines: [],
      };
      def.cv = { strategy: 'kfold', folds: 2 };
    });
    const s: RunSummary = await env.client.workflow.execute('retrainWorkflow', {
      taskQueue,
      workflowId: `test-boosted-search-${Date.now()}`,
      args: [{ pipeline: file, trigger: 'test' }],
    }).then(forPeople);
    const search = s.model.search!;
    assert.ok(search, 'the summary says what was searched');
    assert.equal(search.engine, 'boosted');
    assert.equal(search.trials.length, 3);
    assert.deepEqual(search.trials[0].params, { minDataInLeaf: 20, numLeaves: 31 }, 'trial 0: the definition');
    const best = search.trials.reduce((a, b, i) => (b.mean > search.trials[a].mean ? i : a), 0);
    assert.equal(search.chosen, best);
    // The CV reported is the kept trial's folds, and the published model has its settings.
    assert.equal(s.model.cv!.mean.roc_auc, search.trials[best].mean);
    const models = join(s.runDir, 'models');
    const m = JSON.parse(readFileSync(join(models, 'boosted-holdout.model.json'), 'utf8'));
    assert.equal(m.payload.params.numLeaves, search.trials[best].params.numLeaves);
    assert.equal(m.payload.params.minDataInLeaf, search.trials[best].params.minDataInLeaf);
    assert.equal(m.payload.params.nRounds, 40);
    // Each trial's folds are files of their own.
    assert.equal(readdirSync(models).filter((f) => /^boosted-.*fold.*\.result\.json$/.test(f)).length, 6);
    assert.match(readFileSync(s.reportPath!, 'utf8'), /model\.search, seed 5/);
  });
});
