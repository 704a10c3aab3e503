/**
 * Run identity on a real Temporal dev server and real DuckDB: a run id is `<pipeline>-<cutoff>-<content key>`, the
 * key covering the definition's relevant parts, the cutoff and the loaded data. Changed hyper-parameters, another
 * engine or appended data make a new run (own folder, model, report); the same inputs give the same run; the id
 * `run` prints is the one `status` and `runs list` use; a backfill skips only the same run. The CLI commands are
 * called directly against the test server (TEMPORAL_ADDRESS), with a worker on the default task queue.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createWorker, type FunnelcastWorker } from '../../worker';
import { TASK_QUEUE } from '../../infra/temporal';
import { writeEventsCsv } from '../../data/generator';
import { runCommand } from '../../cli/run';
import { runsCommand, statusCommand } from '../../cli/runs';
import { backfillCommand } from '../../cli/backfill';
import type { RunSummary, StartedRun } from '../../workflows/types';
import type { BackfillRow } from '../../workflows/backfill';
import { runCli } from '../helpers/cli';
import { startTestServer, useTempHome } from '../helpers/temporal';
import { tempDir } from '../helpers/warehouse';
import { forPeople } from '../../cli/edge';

const CUTOFF = '2024-03-01T00:00:00.000Z';
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('content-addressed run identity (real Temporal + DuckDB)', { timeout: 600_000 }, () => {
  let env: TestWorkflowEnvironment;
  let worker: FunnelcastWorker;
  let connection: NativeConnection;
  let running: Promise<void>;
  let dir: string;

  /** A definition of pipeline `ident` on the shared events file; `model` and the file name vary. */
  const definition = (file: string, model: Record<string, unknown>) => {
    const path = join(dir, file);
    writeFileSync(
      path,
      JSON.stringify({
        name: 'ident',
        description: `written as ${file}`,
        sources: {
          events: {
            path: 'events.csv',
            columns: { user_id: 'user_id', ts: 'timestamp', event: 'event', item_id: 'item_id', revenue: 'revenue' },
          },
        },
        label: { event: 'transaction', horizon: '14d' },
        features: { funnel: ['view', 'addtocart', 'transaction'] },
        model: { baselines: [], ...model },
        cv: { strategy: 'none' },
      }),
    );
    return path;
  };
  const run = async (file: string) => {
    const r = await runCli(runCommand, ['--pipeline', file, '--cutoff', CUTOFF, '--train-only', '--json']);
    assert.equal(r.code, 0, r.out);
    return JSON.parse(r.out) as RunSummary & { workflowId: string };
  };
  const backfill = async (file: string) => {
    const args = ['--pipeline', file, '--from', CUTOFF, '--to', CUTOFF, '--every', '1w', '--train-only', '--json'];
    const r = await runCli(backfillCommand, args);
    assert.equal(r.code, 0, r.out);
    return (JSON.parse(r.out) as { rows: BackfillRow[] }).rows;
  };
  const executions = async (workflowId: string) => {
    let n = 0;
    for await (const w of env.client.workflow.list({ query: `WorkflowId = "${workflowId}"` }))
      if (w.type === 'retrainWorkflow') n++;
    return n;
  };

  let forest: RunSummary & { workflowId: string };
  let forest2: RunSummary & { workflowId: string };

  before(async () => {
    useTempHome('funnelcast-ident-');
    dir = tempDir('fc-ident-');
    await writeEventsCsv(join(dir, 'events.csv'), {
      users: 1500,
      seed: 5,
      days: 90,
      engagement: 10,
      start: '2024-01-01',
    });
    env = await startTestServer();
    process.env.TEMPORAL_ADDRESS = env.address;
    connection = await NativeConnection.connect({ address: env.address });
    worker = await createWorker({ connection, taskQueue: TASK_QUEUE });
    running = worker.run();
  });

  after(async () => {
    delete process.env.TEMPORAL_ADDRESS;
    worker?.shutdown();
    await running;
    await connection?.close();
    await env?.teardown();
  });

  it('prints a content-addressed run id that status and runs list accept; the same run again is the same run', async () => {
    forest = await run(definition('forest.json', { engine: 'forest', forest: { nTrees: 15 } }));
    const status = await runCli(statusCommand, [forest.runId, '--json']);
    assert.equal(status.code, 0, `status ${forest.runId}: ${status.out}`);
    assert.equal(JSON.parse(status.out).status, 'COMPLETED');
    assert.equal(forest.workflowId, forest.runId, 'the workflow id is the run id');
    assert.match(forest.runId, /^ident-20240301T000000Z-[0-9a-f]{10}$/);
    assert.equal(basename(forest.runDir), forest.runId);
    const listed = await runCli(runsCommand, ['list', '--json']);
    assert.ok((JSON.parse(listed.out) as { workflowId: string }[]).some((r) => r.workflowId === forest.runId));

    // A cosmetic change (the description) and a repeated command give the same run, not a new execution.
    const again = await run(definition('forest.json', { engine: 'forest', forest: { nTrees: 15 } }));
    assert.equal(again.runId, forest.runId);
    assert.equal(again.publish!.version, forest.publish!.version);
    assert.equal(await executions(forest.runId), 1, 'the finished run was returned, not run again');

    // A full run of the same content completes the train-only one in its folder: same id, same model version.
    const full = await runCli(runCommand, ['--pipeline', join(dir, 'forest.json'), '--cutoff', CUTOFF, '--json']);
    assert.equal(full.code, 0, full.out);
    const completed = JSON.parse(full.out) as RunSummary;
    assert.equal(completed.runId, forest.runId);
    assert.equal(completed.publish!.version, forest.publish!.version);
    assert.ok(completed.scoring && completed.scoring.users > 0, 'scored this time');
  });

  it('two commands starting the same run at once meet in one run', async () => {
    const file = definition('twice.json', { engine: 'forest', forest: { nTrees: 12 } });
    const start = (i: number) =>
      env.client.workflow.execute('startRunWorkflow', {
        taskQueue: TASK_QUEUE,
        workflowId: `plan-twice-${i}-${Date.now()}`,
        args: [{ pipeline: file, cutoff: CUTOFF, trainOnly: true, wait: false }],
      }).then(forPeople) as Promise<StartedRun>;
    const [a, b] = await Promise.all([start(1), start(2)]);
    assert.equal(a.runId, b.runId);
    assert.equal(
      [a, b].filter((s) => s.started).length,
      1,
      'one of them started it, the other attached or found it done',
    );
    const summary = (await env.client.workflow.getHandle(a.runId).result().then(forPeople)) as RunSummary;
    assert.equal(summary.runId, a.runId);
    assert.equal(await executions(a.runId), 1);
  });

  it('a changed forest hyper-parameter is a new run with a new model', async () => {
    forest2 = await run(definition('forest2.json', { engine: 'forest', forest: { nTrees: 25 } }));
    assert.notEqual(forest2.runId, forest.runId);
    assert.notEqual(forest2.runDir, forest.runDir);
    assert.notEqual(forest2.publish!.version, forest.publish!.version, 'a new model version, not the old one reused');
    const model = (s: RunSummary) => join(s.publish!.versionDir, 'model.json');
    assert.notEqual(sha(model(forest2)), sha(model(forest)));
    const trees = (s: RunSummary) => JSON.parse(readFileSync(model(s), 'utf8')) as { payload: { trees: unknown[] } };
    assert.equal(trees(forest2).payload.trees.length, 25);
    assert.equal(trees(forest).payload.trees.length, 15);
  });

  it("a backfill skips a cutoff only when the same backtest finished, not another definition's run nor a live run", async () => {
    const logistic = definition('logistic.json', { engine: 'logistic' });
    const [row] = await backfill(logistic);
    assert.equal(row.status, 'done', 'the forest runs at this cutoff are not this definition');
    assert.match(row.runId, /^ident-20240301T000000Z-[0-9a-f]{10}$/);
    assert.ok(![forest.runId, forest2.runId].includes(row.runId));
    const [repeat] = await backfill(logistic);
    assert.equal(repeat.status, 'skipped (already done)');
    assert.equal(repeat.runId, row.runId);
    // The same content as the live `run` forest2: a backfill's run is a backtest (it never moves the champion), so
    // it is its own run, not the live one answered again (and a later live run is not answered by it either).
    const [forestRow] = await backfill(definition('forest2.json', { engine: 'forest', forest: { nTrees: 25 } }));
    assert.equal(forestRow.status, 'done');
    assert.notEqual(forestRow.runId, forest2.runId);
    assert.match(forestRow.runId, /^ident-20240301T000000Z-[0-9a-f]{10}$/);
  });

  it('a forest and a logistic definition of the same cutoff keep separate run folders, reports and models', async () => {
    const logistic = await run(definition('logistic.json', { engine: 'logistic' }));
    assert.equal(logistic.model.engine, 'logistic');
    assert.notEqual(logistic.runDir, forest.runDir);
    for (const [s, engine] of [
      [forest, 'forest'],
      [logistic, 'logistic'],
    ] as const) {
      const onDisk = JSON.parse(readFileSync(join(s.runDir, 'run.json'), 'utf8')) as RunSummary;
      assert.equal(onDisk.runId, s.runId);
      assert.equal(onDisk.model.engine, engine, `${s.runId}/run.json is the ${engine} run's`);
      assert.ok(existsSync(join(s.runDir, 'report.html')));
      // The run's own models (the champion's predictions on its held-out users are the gate's, named champion-…).
      const models = readdirSync(join(s.runDir, 'models')).filter((f) => !f.startsWith('champion-'));
      assert.ok(models.length > 0 && models.every((f) => f.startsWith(engine)), `${engine}: ${models.join(', ')}`);
    }
  });

  it('rows appended to a source are a new run', async () => {
    const extra = join(tempDir('fc-ident-extra-'), 'more.csv');
    await writeEventsCsv(extra, { users: 300, seed: 9, days: 60, engagement: 10, start: '2024-01-01' });
    appendFileSync(join(dir, 'events.csv'), readFileSync(extra, 'utf8').split('\n').slice(1).join('\n'));
    const more = await run(definition('forest2.json', { engine: 'forest', forest: { nTrees: 25 } }));
    assert.notEqual(more.runId, forest2.runId);
    assert.ok(more.extract.loaded > 0, 'the appended rows were loaded');
    assert.ok(more.extract.events > forest2.extract.events, 'the new run read them');
    assert.notEqual(more.publish!.version, forest2.publish!.version);
  });
});
