/**
 * Issue 21, "every delivery is logged": a webhook or bucket delivery whose transient failures outlast the retry
 * policy is recorded on its last attempt (delivery log + dead-letter record, non-retryable failure), not lost when
 * Temporal stops retrying; earlier attempts stay retryable and log nothing. A bucket that does not exist is refused
 * for good on the first attempt. MockActivityEnvironment with a real HTTP receiver and a real S3-compatible store.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { deliverToBucket, deliverToWebhook } from '../../../activities/deliver';
import { deliveryPaths, readDeliveryLog } from '../../../segments/webhook';
import { withDuckDB } from '../../../warehouse/db';
import { writeColumnsToParquet } from '../../../warehouse/parquet';
import { tempDir } from '../../helpers/warehouse';
import { startTestObjectServer } from '../../helpers/object-store';
import type { ObjectServer } from '../../../store/versitygw';

const env = (attempt: number) =>
  new MockActivityEnvironment({ attempt, retryPolicy: { maximumAttempts: 3 } } as never, {
    logger: new DefaultLogger('WARN'),
  });

describe('a delivery that outlasts its retries is logged as a dead letter', { timeout: 60_000 }, () => {
  let server: Server;
  let url = '';
  let home = '';
  let parquetPath = '';
  let s3: ObjectServer;
  let endpoint = '';

  before(async () => {
    home = tempDir('fc-last-');
    process.env.FUNNELCAST_HOME = home;
    process.env.FC_TEST_SECRET = 'x';
    s3 = await startTestObjectServer('unused');
    process.env.AWS_ACCESS_KEY_ID = s3.accessKey;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretKey;
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(503).end());
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    endpoint = s3.endpoint;
    parquetPath = join(home, 'list.parquet');
    await withDuckDB(':memory:', (conn) =>
      writeColumnsToParquet(conn, parquetPath, [
        { name: 'user_id', type: 'VARCHAR', values: ['u1', 'u2'] },
        { name: 'propensity', type: 'DOUBLE', values: [0.5, 0.4] },
        ...['rfm_segment', 'why_1', 'why_2', 'why_3', 'action'].map((name) => ({
          name,
          type: 'VARCHAR' as const,
          values: ['x', 'x'],
        })),
        { name: 'propensity_decile', type: 'INTEGER', values: [1, 1] },
      ]),
    );
  });
  after(async () => {
    server.close();
    await s3?.stop();
  });

  it('webhook: attempts before the last are retryable and log nothing; the last logs and dead-letters', async () => {
    const input = {
      pipeline: 'p',
      runId: 'r1',
      list: 'l',
      parquetPath,
      url,
      secretEnv: 'FC_TEST_SECRET',
      batchSize: 10,
      mode: 'full' as const,
    };
    const p = deliveryPaths(home, 'p');
    const early = await env(2)
      .run(deliverToWebhook, input)
      .catch((e: unknown) => e);
    assert.ok(!(early instanceof ApplicationFailure && early.nonRetryable), 'retryable before the last attempt');
    assert.equal(readDeliveryLog(p.log).length, 0);
    const last = await env(3)
      .run(deliverToWebhook, input)
      .catch((e: unknown) => e);
    assert.ok(last instanceof ApplicationFailure && last.nonRetryable);
    assert.match(last.message, /gave up after 3 attempts: batch 1\/1 to 127\.0\.0\.1:\d+: HTTP 503/);
    const log = readDeliveryLog(p.log);
    assert.deepEqual(
      log.map((l) => [l.list, l.outcome]),
      [['l', 'dead-letter']],
    );
    assert.ok(existsSync(p.deadLetter('r1', 'l')));
  });

  it('bucket: no such bucket is refused at once and logged; the file list is untouched', async () => {
    const file = join(home, 'a.csv');
    writeFileSync(file, 'a\n1\n');
    const input = {
      pipeline: 'b',
      runId: 'r2',
      target: { bucket: 'missing', endpoint, region: 'us-east-1', forcePathStyle: true },
      files: [file],
      manifestPath: file,
    };
    const e = await env(1)
      .run(deliverToBucket, input)
      .catch((x: unknown) => x);
    assert.ok(e instanceof ApplicationFailure && e.nonRetryable, String(e));
    assert.match(e.message, /s3:\/\/missing: NoSuchBucket \(HTTP 404\)/);
    const log = readDeliveryLog(deliveryPaths(home, 'b').log);
    assert.deepEqual(
      log.map((l) => [l.destination, l.outcome]),
      [['s3://missing/b/r2', 'dead-letter']],
    );
  });
});
