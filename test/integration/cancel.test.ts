/**
 * Cancel within 5 seconds during training, on a real Temporal dev server and real DuckDB: `funnelcast cancel` while
 * forest and LSTM folds train; the run is CANCELLED (status exits 5 and says in which step) within 5 s of the
 * request, only after every training activity stopped (the workflow waits for their acknowledgement), and its
 * history has no timed-out workflow task (what the Web UI shows as "Workflow Task Timed Out").
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import { TASK_QUEUE } from '../../infra/temporal';
import { paths } from '../../infra/paths';
import { projectRoot } from '../../infra/root';
import { cancelCommand, statusCommand } from '../../cli/runs';
import { runCli } from '../helpers/cli';
import { startServerAndWorker, until, useTempHome } from '../helpers/temporal';
import { tempDir } from '../helpers/warehouse';

const EventType = temporal.api.enums.v1.EventType;

/** The sample's definition under another name, with heavy training so that a cancel lands in the middle of it. */
function heavyPipeline(name: string, model: Record<string, unknown>): string {
  const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
  def.name = name;
  def.sources.events.path = join(projectRoot(), 'data', 'sample', 'events.csv.gz');
  def.model = { ...def.model, ...model };
  def.cv = { strategy: 'kfold', folds: 3 };
  const file = join(tempDir('fc-cancel-'), `${name}.json`);
  writeFileSync(file, JSON.stringify(def));
  return file;
}

describe('cancel during training (real Temporal + DuckDB)', { timeout: 600_000 }, () => {
  let env: TestWorkflowEnvironment;
  let stop: () => Promise<void>;

  before(async () => {
    useTempHome('funnelcast-cancel-');
    ({ env, stop } = await startServerAndWorker());
  });

  after(async () => {
    await stop?.();
  });

  const cancelDuringTraining = async (name: string, model: Record<string, unknown>) => {
    const id = `${name}-cancel-${Date.now()}`;
    const handle = await env.client.workflow.start('retrainWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId: id,
      args: [{ pipeline: heavyPipeline(name, model), trainOnly: true }],
    });
    // Training started: trainModel activities are running (and have heartbeated, so they are well under way).
    await until('training activities to run', 180_000, async () => {
      const d = await handle.describe();
      const training = (d.raw.pendingActivities ?? []).filter(
        (a) => a.activityType?.name === 'trainModel' && a.lastHeartbeatTime,
      );
      return training.length > 0 ? true : undefined;
    });
    await new Promise((r) => setTimeout(r, 1500));
    const asked = Date.now();
    const c = await runCli(cancelCommand, [id]);
    assert.equal(c.code, 0, c.out);
    assert.match(c.out, /Cancelled \S+ in [\d.]+ s, during step (cross-validate|train)/);
    const cancelled = async () => ((await handle.describe()).status.name === 'CANCELLED' ? true : undefined);
    await until('the run to be cancelled', 60_000, cancelled, 100);
    const seconds = (Date.now() - asked) / 1000;
    const events = (await handle.fetchHistory()).events ?? [];
    // The last events, each with its time after the request (what took long when it fails).
    const at = (e: (typeof events)[number]) =>
      Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
    const story = events
      .slice(-12)
      .map((e) => `${EventType[e.eventType ?? 0].replace('EVENT_TYPE_', '')} +${((at(e) - asked) / 1000).toFixed(1)}s`);
    assert.ok(seconds < 5, `cancelled ${seconds.toFixed(1)} s after the request (README: within 5 s): ${story}`);

    const s = await runCli(statusCommand, [id]);
    assert.equal(s.code, 5, s.out);
    assert.match(s.out, /CANCELLED[\s\S]*cancelled during step (cross-validate|train)/);
    const timedOut = events.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT);
    assert.equal(timedOut.length, 0, 'no workflow task timed out');
    // The workflow waited for the training activities to stop: none is still running, none was published.
    assert.equal((await handle.describe()).raw.pendingActivities?.length ?? 0, 0);
    const reg = join(paths.registry(name), 'versions');
    assert.deepEqual(existsSync(reg) ? readdirSync(reg) : [], [], 'nothing published');
    return `${seconds.toFixed(1)} s: ${story}`;
  };

  it('forest folds: cancelled within 5 s, status exits 5', async (t) => {
    const seconds = await cancelDuringTraining('heavyforest', {
      forest: { nTrees: 2000, maxDepth: 20, minSamplesLeaf: 1 },
    });
    t.diagnostic(`cancelled after ${seconds}`);
  });

  it('LSTM folds: cancelled within 5 s, status exits 5', async (t) => {
    const seconds = await cancelDuringTraining('heavylstm', {
      engine: 'lstm',
      baselines: [],
      lstm: { epochs: 300, batchSize: 64 },
    });
    t.diagnostic(`cancelled after ${seconds}`);
  });
});
