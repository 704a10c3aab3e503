/**
 * Operating funnelcast on a real Temporal dev server: schedules (cutoff = scheduled time), trigger, backfills
 * (one run per cutoff, nothing re-run on repeat), and clean cancellation. The CLI command functions are called
 * directly against the test server (TEMPORAL_ADDRESS), with a worker on the default task queue.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import { createWorker, type FunnelcastWorker } from '../../worker';
import { TASK_QUEUE } from '../../infra/temporal';
import { paths } from '../../infra/paths';
import { writeEventsCsv } from '../../data/generator';
import { scheduleCommand } from '../../cli/schedule';
import { backfillCommand } from '../../cli/backfill';
import { runCli } from '../helpers/cli';
import type { RunSummary, StepProgress } from '../../workflows/types';
import type { BackfillRow } from '../../workflows/backfill';
import { startTestServer, until, useTempHome } from '../helpers/temporal';
import { tempDir } from '../helpers/warehouse';
import { projectRoot } from '../../infra/root';

const captureStdout = (fn: () => Promise<number>) => runCli(() => fn(), []);

describe('schedules, backfills and cancellation (real Temporal + DuckDB)', { timeout: 600_000 }, () => {
  let env: TestWorkflowEnvironment;
  let worker: FunnelcastWorker;
  let connection: NativeConnection;
  let running: Promise<void>;

  before(async () => {
    useTempHome('funnelcast-ops-');
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

  it('a schedule fires runs whose cutoff is their scheduled time; same settings are a no-op; trigger runs now', async () => {
    // Live data: events up to now, so scheduled cutoffs (now) train one horizon earlier and score now.
    const dir = tempDir('fc-live-');
    await writeEventsCsv(join(dir, 'events.csv.gz'), {
      users: 1500,
      seed: 3,
      days: 90,
      engagement: 10,
      start: new Date(Date.now() - 90 * 86_400_000).toISOString(),
    });
    const file = join(dir, 'live.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'live',
        sources: {
          events: {
            path: 'events.csv.gz',
            columns: {
              user_id: 'user_id',
              ts: 'timestamp',
              event: 'event',
              item_id: 'item_id',
              revenue: 'revenue',
              session_id: 'session_id',
            },
          },
        },
        label: { event: 'transaction', horizon: '14d' },
        features: { funnel: ['view', 'addtocart', 'transaction'] },
        model: { forest: { nTrees: 20 }, baselines: [] },
        cv: { strategy: 'none' },
      }),
    );
    const create = ['create', '--pipeline', file, '--every', '20s', '--json'];
    assert.equal((await captureStdout(() => scheduleCommand(create))).code, 0);
    const again = await captureStdout(() => scheduleCommand(create));
    assert.equal(again.code, 0);
    assert.equal(JSON.parse(again.out).unchanged, true);
    const other = await captureStdout(() => scheduleCommand(['create', '--pipeline', file, '--every', '30s']));
    assert.equal(other.code, 2, 'other settings ask for update');

    const runsDir = join(paths.runDir('live', 'x'), '..');
    const finished = () =>
      existsSync(runsDir) ? readdirSync(runsDir).filter((d) => existsSync(join(runsDir, d, 'run.json'))) : [];
    await until('a scheduled run to finish', 120_000, () => (finished().length >= 1 ? true : undefined));
    const described = JSON.parse(
      (await captureStdout(() => scheduleCommand(['describe', '--pipeline', file, '--json']))).out,
    );
    const scheduledAt = new Set((described.recentRuns as { scheduledAt: string }[]).map((r) => r.scheduledAt));
    const scheduledRuns = new Set((described.recentRuns as { runId: string | null }[]).map((r) => r.runId));
    for (const d of finished()) {
      // One id everywhere: a scheduled run's folder name is its run id, its workflow id, and what describe lists.
      assert.ok(scheduledRuns.has(d), `${d} is listed by schedule describe (${[...scheduledRuns].join(', ')})`);
      assert.equal((await env.client.workflow.getHandle(d).describe()).type, 'retrainWorkflow');
      const summary = JSON.parse(readFileSync(join(runsDir, d, 'run.json'), 'utf8')) as RunSummary;
      assert.ok(
        scheduledAt.has(summary.cutoff),
        `run cutoff ${summary.cutoff} is one of the scheduled times ${[...scheduledAt].join(', ')}`,
      );
      assert.notEqual(summary.trainingCutoff, summary.cutoff, 'a live cutoff trains one horizon earlier');
    }
    assert.equal((await captureStdout(() => scheduleCommand(['pause', '--pipeline', file]))).code, 0);
    const before = finished().length;
    assert.equal((await captureStdout(() => scheduleCommand(['trigger', '--pipeline', file]))).code, 0);
    await until('the triggered run', 120_000, () => (finished().length > before ? true : undefined));
    const list = JSON.parse((await captureStdout(() => scheduleCommand(['list', '--json']))).out) as {
      scheduleId: string;
      paused: boolean;
    }[];
    assert.deepEqual(
      list.map((s) => [s.scheduleId, s.paused]),
      [['retrain-live', true]],
    );
    assert.equal((await captureStdout(() => scheduleCommand(['delete', '--pipeline', file]))).code, 0);
  });

  it('a backfill over 3 cutoffs makes 3 runs with those cutoffs, and repeating it makes none', async () => {
    const args = [
      '--pipeline',
      'sample',
      '--from',
      '2024-03-01',
      '--to',
      '2024-03-29',
      '--every',
      '2w',
      '--concurrency',
      '2',
      '--train-only',
      '--json',
    ];
    const first = await captureStdout(() => backfillCommand(args));
    assert.equal(first.code, 0, first.out);
    const rows = JSON.parse(first.out).rows as BackfillRow[];
    assert.deepEqual(
      rows.map((r) => [r.cutoff, r.status]),
      [
        ['2024-03-01T00:00:00.000Z', 'done'],
        ['2024-03-15T00:00:00.000Z', 'done'],
        ['2024-03-29T00:00:00.000Z', 'done'],
      ],
    );
    assert.ok(rows.every((r) => r.rocAuc! > 0.5 && r.modelVersion));
    const count = async () => {
      let n = 0;
      for await (const _ of env.client.workflow.list({
        query: `WorkflowType = "retrainWorkflow" AND WorkflowId STARTS_WITH "sample-2024"`,
      }))
        n++;
      return n;
    };
    await until('visibility to list the 3 runs', 20_000, async () => ((await count()) === 3 ? true : undefined));
    const second = await captureStdout(() => backfillCommand(args));
    assert.equal(second.code, 0);
    assert.ok((JSON.parse(second.out).rows as BackfillRow[]).every((r) => r.status === 'skipped (already done)'));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await count(), 3, 'repeating the backfill starts no run');
  });

  it('cancelling a run stops training and publishes nothing', async () => {
    const dir = tempDir('fc-cancel-');
    const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
    def.name = 'heavy';
    def.sources.events.path = join(projectRoot(), 'data', 'sample', 'events.csv.gz');
    def.model.forest = { nTrees: 2000, maxDepth: 20, minSamplesLeaf: 1 };
    def.cv = { strategy: 'kfold', folds: 5 };
    writeFileSync(join(dir, 'heavy.json'), JSON.stringify(def));
    const handle = await env.client.workflow.start('retrainWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId: `cancel-${Date.now()}`,
      args: [{ pipeline: join(dir, 'heavy.json') }],
    });
    await until('training to start', 60_000, async () =>
      (await handle.query<StepProgress>('progress')).step === 'cross-validate' ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 1000));
    await handle.cancel();
    await assert.rejects(
      handle.result(),
      (e: Error) => e instanceof WorkflowFailedError && /cancel/i.test(String(e.cause?.name ?? e.cause?.message)),
    );
    const reg = paths.registry('heavy');
    const versions = existsSync(join(reg, 'versions')) ? readdirSync(join(reg, 'versions')) : [];
    assert.deepEqual(versions, [], 'no model version was published');
    assert.ok(!existsSync(join(reg, 'champion.json')));
  });
});
