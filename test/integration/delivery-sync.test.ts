/**
 * Issue 21, delivery end to end on a real Temporal dev server, real DuckDB, a real HTTP receiver and a real
 * S3-compatible store (Versity Gateway, test/helpers/object-store.ts):
 * - webhook "changes" mode: the first delivery of a list sends every user as `add`; the next run (another cutoff)
 *   sends only the users who joined (`add`) and left (`remove`) since that delivery, each exactly once through
 *   failing requests, so the receiver's copy ends equal to the new list;
 * - a bucket upload whose requests fail (503 from a proxy in front of the store) is retried by Temporal and
 *   delivers every object; a bucket that refuses for good (no such bucket) is reported at once, logged as a
 *   dead letter, and the run still finishes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { NativeConnection } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DuckDBInstance } from '@duckdb/node-api';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createWorker, type FunnelcastWorker } from '../../worker';
import { projectRoot } from '../../infra/root';
import { funnelcastHome } from '../../infra/paths';
import { deliveryPaths, readDeliveryLog, signBody } from '../../segments/webhook';
import { bucketClient } from '../../segments/bucket';
import type { RunSummary } from '../../workflows/types';
import { startTestServer, uniqueQueue, useTempHome } from '../helpers/temporal';
import { startTestObjectServer } from '../helpers/object-store';
import type { ObjectServer } from '../../store/versitygw';
import { forPeople } from '../../cli/edge';

const SECRET = 'whsec-sync';
type Row = { op: 'add' | 'remove'; user_id: string };

/** Keeps each batch once by idempotency key; fails every 5th request before reading, every 11th after storing. */
function receiver() {
  const batches = new Map<string, { runId: string; list: string; mode: string; rows: Row[] }>();
  let n = 0;
  let failures = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      n++;
      const key = String(req.headers['idempotency-key']);
      if (req.headers['x-funnelcast-signature'] !== signBody(SECRET, body)) return res.writeHead(401).end();
      if (n % 5 === 0) return (failures++, res.writeHead(503).end());
      const seen = batches.has(key);
      if (!seen) batches.set(key, JSON.parse(body));
      if (n % 11 === 0) return (failures++, res.writeHead(500).end());
      res.writeHead(seen ? 409 : 200).end();
    });
  });
  return { server, batches, failures: () => failures };
}

/** A proxy in front of the store that answers 503 to the first `failFirst` uploads (PUT), then forwards all. */
function flakyProxy(target: () => number, failFirst: number) {
  let puts = 0;
  const server = createServer((req, res) => {
    if (req.method === 'PUT' && puts++ < failFirst) {
      req.resume();
      return res.writeHead(503, { 'content-type': 'application/xml' }).end('<Error><Code>SlowDown</Code></Error>');
    }
    const up = request(
      { host: '127.0.0.1', port: target(), path: req.url, method: req.method, headers: req.headers },
      (r) => (res.writeHead(r.statusCode!, r.headers), r.pipe(res)),
    );
    req.pipe(up);
  });
  return { server, refused: () => Math.min(puts, failFirst) };
}

const listen = (s: Server) =>
  new Promise<number>((ok) => s.listen(0, '127.0.0.1', () => ok((s.address() as AddressInfo).port)));

describe('webhook changes mode and bucket retries (real Temporal + DuckDB + HTTP + S3)', { timeout: 900_000 }, () => {
  let env: TestWorkflowEnvironment;
  let worker: FunnelcastWorker;
  let connection: NativeConnection;
  let running: Promise<void>;
  const taskQueue = uniqueQueue('sync');
  const hook = receiver();
  let s3Port = 0;
  const proxy = flakyProxy(() => s3Port, 4);
  let s3: ObjectServer;
  let proxyUrl = '';
  let first: RunSummary;
  let second: RunSummary;
  const workflowIds: string[] = [];

  const run = async (cutoff: string, bucket: string) => {
    const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
    def.name = 'sample_sync';
    def.sources.events.path = join(projectRoot(), 'data', 'sample', 'events.csv.gz');
    def.cv = { strategy: 'none' };
    def.model.forest.nTrees = 20;
    def.model.baselines = [];
    def.export = {
      webhook: {
        url: `http://127.0.0.1:${(hook.server.address() as AddressInfo).port}/in`,
        batchSize: 100,
        mode: 'changes',
      },
      bucket: { bucket, prefix: 'fc', endpoint: proxyUrl, forcePathStyle: true },
    };
    const file = join(mkdtempSync(join(tmpdir(), 'fc-sync-')), 'sample_sync.json');
    writeFileSync(file, JSON.stringify(def));
    const workflowId = `test-sync-${cutoff.slice(0, 10)}-${Date.now()}`;
    workflowIds.push(workflowId);
    return (await env.client.workflow.execute('retrainWorkflow', {
      taskQueue,
      workflowId,
      args: [{ pipeline: file, cutoff, trigger: 'test' }],
    }).then(forPeople)) as RunSummary;
  };
  const ids = async (parquet: string) => {
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      return new Set(
        (await conn.runAndReadAll(`SELECT user_id FROM read_parquet('${parquet}')`)).getRows().map((r) => String(r[0])),
      );
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  };
  const received = (runId: string, list: string) =>
    [...hook.batches.values()].filter((b) => b.runId === runId && b.list === list).flatMap((b) => b.rows);

  before(async () => {
    useTempHome('funnelcast-sync-');
    s3 = await startTestObjectServer('lists');
    s3Port = Number(new URL(s3.endpoint).port);
    proxyUrl = `http://127.0.0.1:${await listen(proxy.server)}`;
    process.env.AWS_ACCESS_KEY_ID = s3.accessKey;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretKey;
    process.env.FUNNELCAST_WEBHOOK_SECRET = SECRET;
    await listen(hook.server);
    env = await startTestServer();
    connection = await NativeConnection.connect({ address: env.address });
    worker = await createWorker({ connection, taskQueue });
    running = worker.run();
    first = await run('2024-04-30T00:00:00Z', 'lists');
    second = await run('2024-05-20T00:00:00Z', 'no-such-bucket');
  });

  after(async () => {
    worker?.shutdown();
    await running;
    await connection?.close();
    await env?.teardown();
    hook.server.close();
    proxy.server.close();
    await s3?.stop();
  });

  it('sends the whole list first, then only who joined and left, each row once through failures', async () => {
    assert.ok(hook.failures() > 0, 'the receiver failed some requests');
    for (const r of [first, second])
      assert.ok(
        r.webhook!.every((w) => w.outcome === 'delivered'),
        JSON.stringify(r.webhook),
      );
    let kept = 0;
    for (const e of second.exports) {
      const before = await ids(first.exports.find((x) => x.campaign === e.campaign)!.parquetPath);
      const after = await ids(e.parquetPath);
      const one = received(first.runId, e.campaign);
      assert.ok(one.every((r) => r.op === 'add'));
      assert.deepEqual(one.map((r) => r.user_id).sort(), [...before].sort(), `${e.campaign}: first delivery whole`);
      const two = received(second.runId, e.campaign);
      const added = two.filter((r) => r.op === 'add').map((r) => r.user_id);
      const removed = two.filter((r) => r.op === 'remove').map((r) => r.user_id);
      assert.equal(new Set([...added, ...removed]).size, two.length, `${e.campaign}: no row twice`);
      assert.deepEqual(added.sort(), [...after].filter((u) => !before.has(u)).sort(), `${e.campaign}: joined`);
      assert.deepEqual(removed.sort(), [...before].filter((u) => !after.has(u)).sort(), `${e.campaign}: left`);
      // The receiver's copy after applying the changes is the new list.
      const copy = new Set(before);
      for (const u of added) copy.add(u);
      for (const u of removed) copy.delete(u);
      assert.deepEqual([...copy].sort(), [...after].sort());
      assert.equal(second.webhook!.find((w) => w.list === e.campaign)!.rows, two.length);
      kept += [...after].filter((u) => before.has(u)).length;
    }
    assert.ok(kept > 0, 'some users stayed on their list: they were not sent again (a change set, not a resend)');
  });

  it('retries a bucket upload whose requests failed until every object is stored', async () => {
    assert.equal(proxy.refused(), 4, 'the store refused the first uploads');
    assert.equal(first.bucket?.delivered, true, JSON.stringify(first.bucket));
    const client = bucketClient({
      bucket: 'lists',
      endpoint: `http://127.0.0.1:${s3Port}`,
      region: 'us-east-1',
      forcePathStyle: true,
    });
    try {
      const listed = await client.send(
        new ListObjectsV2Command({ Bucket: 'lists', Prefix: `fc/sample_sync/${first.runId}/` }),
      );
      assert.equal(listed.Contents?.length, first.bucket!.objects);
    } finally {
      client.destroy();
    }
    // Retried by Temporal (the store client gives up after its own 3 tries): the activity's second attempt stored it.
    const events = (await env.client.workflow.getHandle(workflowIds[0]).fetchHistory()).events ?? [];
    const scheduled = events.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'deliverToBucket',
    );
    const started = events.find(
      (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId ?? '') === String(scheduled!.eventId),
    );
    assert.ok((started!.activityTaskStartedEventAttributes!.attempt ?? 1) >= 2, 'a second attempt of the upload');
  });

  it('reports a bucket that refuses for good at once, logs it, and finishes the run', async () => {
    assert.equal(second.bucket?.delivered, false);
    assert.match(second.bucket!.reason!, /s3:\/\/no-such-bucket: NoSuchBucket \(HTTP 404\)/);
    const log = readDeliveryLog(deliveryPaths(funnelcastHome(), 'sample_sync').log).filter((l) =>
      l.destination.startsWith('s3://'),
    );
    assert.deepEqual(
      log.map((l) => [l.runId, l.outcome]),
      [
        [first.runId, 'delivered'],
        [second.runId, 'dead-letter'],
      ],
    );
    assert.ok(second.reportPath);
  });
});
