/**
 * Issue 19's proof: one Temporal dev server, a real S3-compatible store (Versity Gateway) and three worker
 * processes, each with its own empty home and cache (no folder of one is used by another): A serves workflows, I/O
 * and the warehouse, B and C serve training. A sample run with 5-fold CV: the folds run on more than one worker
 * (the history's worker identities), B is SIGKILLed while it trains a fold, the run completes, and no payload in
 * the history carries a path of any worker's home. The same run on one worker and the local store gives the same
 * scores and lists, byte for byte.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import { projectRoot } from '../../infra/root';
import { openStore, type ArtifactStore } from '../../store';
import type { ObjectServer } from '../../store/versitygw';
import type { RunSummary } from '../../workflows/types';
import { createWorker } from '../../worker';
import { startTestObjectServer } from '../helpers/object-store';
import { startTestServer, uniqueQueue, useTempHome } from '../helpers/temporal';
import { forPeople } from '../../cli/edge';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function pipelineFile(name: string): string {
  const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
  def.name = name;
  def.sources.events.path = join(projectRoot(), 'data', 'sample', 'events.csv.gz');
  def.cv = { strategy: 'kfold', folds: 5 };
  def.model.forest.nTrees = 60;
  def.model.baselines = [];
  delete def.export;
  const file = join(mkdtempSync(join(tmpdir(), 'fc-mw-def-')), `${name}.json`);
  writeFileSync(file, JSON.stringify(def));
  return file;
}

interface WorkerProcess {
  name: string;
  home: string;
  child: ChildProcess;
  log: () => string;
  exit: Promise<unknown>;
}

function worker(name: string, queues: string, env: Record<string, string>): WorkerProcess {
  const home = mkdtempSync(join(tmpdir(), `fc-mw-${name}-`));
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...env,
    FUNNELCAST_HOME: home,
    FUNNELCAST_CACHE: join(home, 'cache'),
  };
  delete childEnv.NODE_TEST_CONTEXT;
  delete childEnv.FUNNELCAST_REGISTRY;
  const child = spawn(process.execPath, [join(projectRoot(), 'bin', 'funnelcast.js'), 'worker', '--queues', queues], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exit = new Promise((r) => child.once('exit', r));
  return { name, home, child, log: () => log, exit };
}

interface Started {
  activityType: string;
  identity: string;
  attempt: number;
}

/** ActivityTaskStarted events with the activity type of their scheduled event. */
async function startedActivities(env: TestWorkflowEnvironment, workflowId: string): Promise<Started[]> {
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  const types = new Map<string, string>();
  const out: Started[] = [];
  for (const e of history.events ?? []) {
    if (e.activityTaskScheduledEventAttributes)
      types.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
    const s = e.activityTaskStartedEventAttributes;
    if (s)
      out.push({
        activityType: types.get(String(s.scheduledEventId)) ?? '',
        identity: s.identity ?? '',
        attempt: s.attempt ?? 1,
      });
  }
  return out;
}

describe('many workers, one Temporal server, one object store', { timeout: 1_200_000 }, () => {
  let env: TestWorkflowEnvironment;
  let s3: ObjectServer;
  let store: ArtifactStore;
  const taskQueue = uniqueQueue('multi');
  const workers: WorkerProcess[] = [];
  const file = pipelineFile('sample_multi');
  const workflowId = `test-multi-${Date.now()}`;
  let summary: RunSummary;
  let killedIdentity = '';
  let multiSeconds = 0;

  before(async () => {
    useTempHome();
    env = await startTestServer();
    s3 = await startTestObjectServer('funnelcast');
    const common = { ...s3.env('multi'), TEMPORAL_ADDRESS: env.address, FUNNELCAST_TASK_QUEUE: taskQueue };
    store = openStore(s3.env('multi').FUNNELCAST_STORE);
    Object.assign(process.env, { AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: s3.accessKey });
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretKey;
    workers.push(worker('a', 'workflows,io,warehouse,cpu', common));
    workers.push(worker('b', 'cpu', common));
    workers.push(worker('c', 'cpu', common));
    const handle = await env.client.workflow.start('retrainWorkflow', {
      taskQueue,
      workflowId,
      args: [{ pipeline: file, trigger: 'test' }],
    });
    // SIGKILL worker B as soon as it is training a fold.
    const b = workers[1]!;
    const deadline = Date.now() + 600_000;
    while (!killedIdentity && Date.now() < deadline) {
      const mine = (await startedActivities(env, workflowId)).find(
        (s) => s.activityType === 'trainModel' && s.identity.startsWith(`${b.child.pid}@`),
      );
      if (mine) {
        await sleep(1_000); // mid-fold, not at its first instruction
        b.child.kill('SIGKILL');
        killedIdentity = mine.identity;
      } else await sleep(500);
    }
    summary = await handle.result(); // keys: the files are in the store
    multiSeconds = summary.seconds;
  });

  after(async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exit));
    store?.close();
    await s3?.stop();
    await env?.teardown();
  });

  it('runs the folds on more than one worker, survives a SIGKILLed training worker, and completes', async () => {
    assert.ok(killedIdentity, `worker B never took a fold; logs:\n${workers.map((w) => w.log()).join('\n')}`);
    const started = await startedActivities(env, workflowId);
    const foldWorkers = new Set(started.filter((s) => s.activityType === 'trainModel').map((s) => s.identity));
    assert.ok(foldWorkers.size > 1, `folds ran on ${[...foldWorkers].join(', ')}`);
    assert.ok(foldWorkers.has(killedIdentity));
    assert.equal(summary.model.cv?.folds.length, 5);
    assert.ok(summary.scoring && summary.scoring.users > 0);
  });

  it('carries store keys in every payload, never a path of a worker home; no attempt failed but the killed one', async () => {
    const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    // Payload data is bytes (a Uint8Array, a Buffer's toJSON form, or base64 text): decoded to the JSON it holds.
    const payloads = JSON.stringify(events, (k, v: unknown) => {
      if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
      if (k === 'data' && typeof v === 'string') return Buffer.from(v, 'base64').toString('utf8');
      const b = v as { type?: string; data?: number[] } | null;
      return b?.type === 'Buffer' && Array.isArray(b.data) ? Buffer.from(b.data).toString('utf8') : v;
    });
    assert.ok(payloads.includes('runs/sample_multi/'), 'payloads decoded');
    for (const w of workers) {
      const at = payloads.indexOf(w.home);
      assert.equal(
        at,
        -1,
        `a path of worker ${w.name}'s home crossed Temporal: …${payloads.slice(at - 300, at + 200)}…`,
      );
    }
    const failures = events
      .map((e) => e.activityTaskStartedEventAttributes?.lastFailure?.message)
      .filter((m): m is string => !!m);
    assert.ok(
      failures.every((m) => /heartbeat/i.test(m)),
      `only the SIGKILLed worker's heartbeat timeout may fail an attempt: ${failures.join(' | ')}`,
    );
    assert.match(summary.features.featuresPath, /^runs\/sample_multi\//);
    const scores = await store.get(summary.scoring!.scoresPath);
    assert.ok(scores && scores.body.length > 0, 'the scores are in the store under their key');
  });

  it('gives the same scores and lists as one worker on the local store, byte for byte', async (t) => {
    useTempHome('fc-mw-local-');
    assert.equal(process.env.FUNNELCAST_STORE, undefined, 'this worker uses the local store');
    const connection = await NativeConnection.connect({ address: env.address });
    const queue = uniqueQueue('single');
    try {
      const w = await createWorker({ connection, taskQueue: queue });
      const local: RunSummary = await w.runUntil(
        env.client.workflow.execute('retrainWorkflow', {
          taskQueue: queue,
          workflowId: `test-single-${Date.now()}`,
          args: [{ pipeline: file, trigger: 'test' }],
        }).then(forPeople),
      );
      // The figures of the bench row, on this machine: wall time of both runs, bytes held by the store.
      let bytes = 0;
      const keys = await store.list('runs/');
      for (const k of keys) bytes += (await store.head(k))!.bytes;
      t.diagnostic(
        `sample, 5-fold CV: 3 workers on the S3 store ${multiSeconds.toFixed(1)} s (one SIGKILLed mid-fold), ` +
          `1 worker on the local store ${local.seconds.toFixed(1)} s; the run put ${keys.length} objects, ` +
          `${(bytes / 1024 ** 2).toFixed(1)} MiB in the store`,
      );
      const remote = async (key: string) => sha((await store.get(key))!.body);
      assert.equal(await remote(summary.scoring!.scoresPath), sha(readFileSync(local.scoring!.scoresPath)));
      assert.equal(summary.exports.length, local.exports.length);
      for (const [i, e] of summary.exports.entries())
        assert.equal(await remote(e.csvPath), sha(readFileSync(local.exports[i]!.csvPath)), e.campaign);
    } finally {
      await connection.close();
    }
  });
});
