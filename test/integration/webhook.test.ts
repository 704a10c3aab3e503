/**
 * Issue 21, destinations: a run on a real Temporal dev server delivers every list to a local HTTP webhook that
 * fails some requests (503 before reading, and 500 after storing the batch, as a lost acknowledgement). Temporal's
 * activity retries resend with the same idempotency keys, so the receiver keeps every row exactly once; every
 * request is HMAC-signed; a list the receiver refuses for good gets a dead-letter record and the run goes on.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { NativeConnection } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DuckDBInstance } from '@duckdb/node-api';
import { createWorker, type FunnelcastWorker } from '../../worker';
import { projectRoot } from '../../infra/root';
import { funnelcastHome } from '../../infra/paths';
import { deliveryPaths, readDeliveryLog, signBody } from '../../segments/webhook';
import type { RunSummary } from '../../workflows/types';
import { startTestServer, uniqueQueue, useTempHome } from '../helpers/temporal';
import { startTestObjectServer } from '../helpers/object-store';
import type { ObjectServer } from '../../store/versitygw';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { bucketClient } from '../../segments/bucket';
import { forPeople } from '../../cli/edge';

const SECRET = 'whsec-test';

interface Received {
  keys: Map<string, { list: string; rows: { user_id: string }[] }>;
  requests: { key: string; status: number }[];
  badSignatures: number;
}

/** A webhook receiver that dedupes by idempotency key and fails on purpose. */
function receiver(): { server: Server; got: Received } {
  const got: Received = { keys: new Map(), requests: [], badSignatures: 0 };
  let n = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      n++;
      const key = String(req.headers['idempotency-key']);
      const reply = (status: number) => {
        got.requests.push({ key, status });
        res.writeHead(status).end();
      };
      if (req.headers['x-funnelcast-signature'] !== signBody(SECRET, body)) {
        got.badSignatures++;
        return reply(401);
      }
      const msg = JSON.parse(body) as { list: string; rows: { user_id: string }[] };
      if (msg.list === 'win_back') return reply(400); // refused for good: dead letter
      if (n % 6 === 3) return reply(503); // transient, nothing stored
      const seen = got.keys.has(key);
      if (!seen) got.keys.set(key, { list: msg.list, rows: msg.rows });
      if (n % 6 === 5) return reply(500); // stored, but the acknowledgement is lost: the retry is a duplicate
      reply(seen ? 409 : 200);
    });
  });
  return { server, got };
}

describe(
  'destinations: webhook and bucket (real Temporal + DuckDB + HTTP + S3-compatible server)',
  { timeout: 600_000 },
  () => {
    let env: TestWorkflowEnvironment;
    let worker: FunnelcastWorker;
    let connection: NativeConnection;
    let running: Promise<void>;
    const taskQueue = uniqueQueue('webhook');
    const { server, got } = receiver();
    let summary: RunSummary;
    let s3: ObjectServer;
    let endpoint = '';

    before(async () => {
      useTempHome();
      // A real S3-compatible server people run in production (Versity Gateway), reached through the AWS SDK.
      s3 = await startTestObjectServer('marketing-lists');
      endpoint = s3.endpoint;
      process.env.AWS_ACCESS_KEY_ID = s3.accessKey;
      process.env.AWS_SECRET_ACCESS_KEY = s3.secretKey;
      process.env.FUNNELCAST_WEBHOOK_SECRET = SECRET;
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
      const port = (server.address() as AddressInfo).port;
      const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
      def.name = 'sample_webhook';
      def.sources.events.path = join(projectRoot(), 'data', 'sample', 'events.csv.gz');
      def.cv = { strategy: 'none' };
      def.model.forest.nTrees = 20;
      def.model.baselines = [];
      def.export = {
        webhook: { url: `http://127.0.0.1:${port}/hooks/lists?token=secret-path`, batchSize: 50 },
        bucket: { bucket: 'marketing-lists', prefix: 'funnelcast', endpoint, forcePathStyle: true },
      };
      const file = join(mkdtempSync(join(tmpdir(), 'fc-webhook-')), 'sample_webhook.json');
      writeFileSync(file, JSON.stringify(def));
      env = await startTestServer();
      connection = await NativeConnection.connect({ address: env.address });
      worker = await createWorker({ connection, taskQueue });
      running = worker.run();
      summary = await env.client.workflow.execute('retrainWorkflow', {
        taskQueue,
        workflowId: `test-webhook-${Date.now()}`,
        args: [{ pipeline: file, trigger: 'test' }],
      }).then(forPeople);
    });

    after(async () => {
      worker?.shutdown();
      await running;
      await connection?.close();
      await env?.teardown();
      server.close();
      await s3?.stop();
    });

    it('uploads every list file and the manifest to the bucket, byte for byte', async () => {
      assert.equal(summary.bucket?.delivered, true, JSON.stringify(summary.bucket));
      const target = { bucket: 'marketing-lists', endpoint, region: 'us-east-1', forcePathStyle: true };
      const client = bucketClient(target);
      try {
        const listed = await client.send(
          new ListObjectsV2Command({
            Bucket: 'marketing-lists',
            Prefix: `funnelcast/sample_webhook/${summary.runId}/`,
          }),
        );
        const keys = (listed.Contents ?? []).map((o) => o.Key!.split('/').pop()!);
        const files = summary.exports.flatMap((e) => [e.csvPath, e.parquetPath, ...(e.otherFiles ?? [])]);
        assert.deepEqual(keys.sort(), [...files.map((f) => f.split('/').pop()!), 'manifest.json'].sort());
        assert.equal(summary.bucket!.objects, files.length + 1);
        for (const f of [...files, summary.manifestPath!]) {
          const got = await client.send(
            new GetObjectCommand({
              Bucket: 'marketing-lists',
              Key: `funnelcast/sample_webhook/${summary.runId}/${f.split('/').pop()}`,
            }),
          );
          const bytes = Buffer.from(await got.Body!.transformToByteArray());
          assert.ok(bytes.equals(readFileSync(f)), f);
        }
      } finally {
        client.destroy();
      }
    });

    it('delivers each row exactly once per list through failures, signed, and records a dead letter for a refusal', async () => {
      assert.equal(got.badSignatures, 0, 'every request carries a valid HMAC signature');
      assert.ok(got.requests.some((r) => r.status === 503) && got.requests.some((r) => r.status === 500));
      // Retries resent some batches with the same key: the receiver saw duplicates and kept one copy.
      const keyCounts = new Map<string, number>();
      for (const r of got.requests) keyCounts.set(r.key, (keyCounts.get(r.key) ?? 0) + 1);
      assert.ok(
        [...keyCounts.values()].some((c) => c > 1),
        'some batches were sent more than once',
      );
      const db = await DuckDBInstance.create(':memory:');
      const conn = await db.connect();
      try {
        for (const e of summary.exports) {
          const outcome = summary.webhook!.find((w) => w.list === e.campaign)!;
          if (e.campaign === 'win_back') {
            assert.equal(outcome.outcome, 'failed');
            assert.match(outcome.reason!, /HTTP 400/);
            continue;
          }
          assert.equal(outcome.outcome, 'delivered', JSON.stringify(outcome));
          const received = [...got.keys.values()].filter((b) => b.list === e.campaign).flatMap((b) => b.rows);
          const ids = received.map((r) => String(r.user_id));
          const expected = (await conn.runAndReadAll(`SELECT user_id FROM read_parquet('${e.parquetPath}')`))
            .getRows()
            .map((r) => String(r[0]));
          assert.equal(ids.length, new Set(ids).size, `${e.campaign}: no row twice`);
          assert.deepEqual([...ids].sort(), [...expected].sort(), `${e.campaign}: every row`);
          assert.equal(outcome.rows, expected.length);
        }
      } finally {
        conn.closeSync();
        db.closeSync();
      }
      // The delivery log: one line per list with rows, checksum and outcome; the URL's path and token are not kept.
      const p = deliveryPaths(funnelcastHome(), 'sample_webhook');
      const all = readDeliveryLog(p.log);
      const log = all.filter((l) => !l.destination.startsWith('s3://'));
      assert.equal(all.filter((l) => l.destination.startsWith('s3://marketing-lists/')).length, 1, 'the bucket upload');
      assert.deepEqual(log.map((l) => l.list).sort(), summary.exports.map((e) => e.campaign).sort());
      assert.ok(log.every((l) => l.destination.startsWith('127.0.0.1:') && !JSON.stringify(l).includes('token')));
      assert.ok(log.filter((l) => l.outcome === 'delivered').every((l) => l.checksum.length === 64 && l.rows > 0));
      assert.ok(existsSync(p.deadLetter(summary.runId, 'win_back')), 'dead-letter record for the refused list');
      const report = readFileSync(summary.reportPath!, 'utf8');
      assert.ok(
        report.includes('<h2>Deliveries</h2>') && report.includes('HTTP 400'),
        'the report shows the deliveries',
      );
    });
  },
);
