/**
 * Issue 19: `funnelcast serve` reads the champion through the registry in the store. A run on machine A (its own
 * home, the shared S3 store on Versity Gateway) makes the first champion, and serve on A answers with it; then a
 * run on machine B (another home, a worker in its own process) publishes a better-placed version that moves the
 * store's champion pointer. Serve on A switches to it, with the lists B's run scored (fetched from the store): A's
 * own registry folder never saw that publish. Before, serve read only A's folder and kept the old champion.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { NativeConnection } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createWorker } from '../../worker';
import { projectRoot } from '../../infra/root';
import { loadPipeline } from '../../pipelines/load';
import { createScoringService, type ScoringService } from '../../serve/app';
import type { ObjectServer } from '../../store/versitygw';
import type { RunSummary } from '../../workflows/types';
import { startTestObjectServer } from '../helpers/object-store';
import { startTestServer, uniqueQueue, until, useTempHome } from '../helpers/temporal';

const TOKEN = 'test-token-19';

function pipelineFile(): string {
  const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
  def.name = 'serve_store';
  def.sources.events.path = join(projectRoot(), 'data', 'sample', 'events.csv.gz');
  def.model.forest = { nTrees: 30, maxDepth: 8, minSamplesLeaf: 5 };
  def.model.baselines = [];
  def.registry = { primaryMetric: 'roc_auc', tolerance: 1, replaceIncomparable: true }; // any later model wins
  def.drift = { accept: true };
  delete def.export;
  const file = join(mkdtempSync(join(tmpdir(), 'fc-serve-store-')), 'serve_store.json');
  writeFileSync(file, JSON.stringify(def));
  return file;
}

describe('serve follows the champion in the store', { timeout: 900_000 }, () => {
  let env: TestWorkflowEnvironment;
  let s3: ObjectServer;
  let service: ScoringService;
  let machineB: ChildProcess | null = null;
  let log = '';
  const saved = { ...process.env };
  const file = pipelineFile();

  before(async () => {
    env = await startTestServer();
    s3 = await startTestObjectServer('serve');
    Object.assign(process.env, s3.env('serve'));
  });

  after(async () => {
    await service?.close();
    if (machineB && machineB.exitCode === null) {
      machineB.kill('SIGTERM');
      await new Promise((r) => machineB!.once('exit', r));
    }
    process.env = saved;
    await s3?.stop();
    await env?.teardown();
  });

  it('switches to a champion published from another home', async () => {
    useTempHome('fc-serve-a-'); // machine A: this process (its worker, then serve)
    const queueA = uniqueQueue('serve-a');
    const connection = await NativeConnection.connect({ address: env.address });
    let first: RunSummary;
    try {
      const w = await createWorker({ connection, taskQueue: queueA });
      first = await w.runUntil(
        env.client.workflow.execute('retrainWorkflow', {
          taskQueue: queueA,
          workflowId: `serve-store-a-${Date.now()}`,
          args: [{ pipeline: file, trigger: 'test' }],
        }),
      );
    } finally {
      await connection.close();
    }
    service = await createScoringService({ loaded: loadPipeline(file), token: TOKEN, pollMs: 200 });
    await service.app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(service.app.server.address() as AddressInfo).port}`;
    const ready = async () => ((await (await fetch(`${base}/readyz`)).json()) as { modelVersion?: string }).modelVersion;
    assert.equal(await ready(), first.publish!.version);

    // Machine B: its own home and cache, a worker in its own process; it shares only Temporal and the store.
    const queueB = uniqueQueue('serve-b');
    const homeB = mkdtempSync(join(tmpdir(), 'fc-serve-b-'));
    const childEnv: NodeJS.ProcessEnv = {
      ...process.env,
      FUNNELCAST_HOME: homeB,
      FUNNELCAST_CACHE: join(homeB, 'cache'),
      TEMPORAL_ADDRESS: env.address,
      FUNNELCAST_TASK_QUEUE: queueB,
    };
    delete childEnv.NODE_TEST_CONTEXT;
    machineB = spawn(process.execPath, [join(projectRoot(), 'bin', 'funnelcast.js'), 'worker'], {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    machineB.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    machineB.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const second: RunSummary = await env.client.workflow.execute('retrainWorkflow', {
      taskQueue: queueB,
      workflowId: `serve-store-b-${Date.now()}`,
      args: [{ pipeline: file, trigger: 'test', cutoff: '2024-05-10T00:00:00Z' }],
    });
    const v2 = second.publish!.version;
    assert.notEqual(v2, first.publish!.version);
    assert.equal(second.publish!.champion, v2, `B's publish moved the store's champion: ${second.publish!.reason}`);
    await until('serve on A to switch to B\'s champion', 60_000, async () => ((await ready()) === v2 ? true : undefined));
    const r = await fetch(`${base}/v1/users/u000007/score`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const body = (await r.json()) as { modelVersion: string; cutoff: string; runId: string };
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.equal(body.modelVersion, v2);
    assert.equal(body.runId, second.runId, "answers from B's lists, fetched from the store");
  });
});
