/**
 * Issue 21, webhook sync modes and refusal handling (the durable delivery through Temporal is in
 * test/integration/webhook.test.ts): `changes` sends only users added and removed since the last delivered copy;
 * transient statuses are retryable, other 4xx refusals are not; `funnelcast deliveries` shows the log.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { withDuckDB } from '../../../warehouse/db';
import { writeColumnsToParquet } from '../../../warehouse/parquet';
import {
  appendDeliveryLog,
  deliveryPaths,
  deliveryRows,
  DeliveryRefused,
  rememberDelivered,
  RetryableDeliveryError,
  sendBatches,
  signBody,
} from '../../../segments/webhook';
import { deliveriesCommand } from '../../../cli/deliveries';
import { runCli } from '../../helpers/cli';
import { tempDir } from '../../helpers/warehouse';

describe('webhook sync modes', () => {
  it('sends the whole list, or only the users added and removed since the last delivery', async () => {
    const dir = tempDir();
    const paths = deliveryPaths(dir, 'p');
    await withDuckDB(':memory:', async (conn) => {
      const list = async (file: string, ids: string[]) => {
        await writeColumnsToParquet(conn, file, [
          { name: 'user_id', type: 'VARCHAR', values: ids },
          { name: 'propensity', type: 'DOUBLE', values: ids.map(() => 0.5) },
          ...['rfm_segment', 'why_1', 'why_2', 'why_3', 'action'].map((name) => ({
            name,
            type: 'VARCHAR' as const,
            values: ids.map(() => 'x'),
          })),
          { name: 'propensity_decile', type: 'INTEGER', values: ids.map(() => 1) },
        ]);
        return file;
      };
      const first = await list(join(dir, 'a.parquet'), ['u1', 'u2', 'u3']);
      const full = await deliveryRows(conn, first, 'changes', paths.last('l'));
      assert.deepEqual(
        full.map((r) => [r.op, r.user_id]),
        [
          ['add', 'u1'],
          ['add', 'u2'],
          ['add', 'u3'],
        ],
        'no earlier delivery: everyone is added',
      );
      rememberDelivered(first, paths.last('l'));
      const second = await list(join(dir, 'b.parquet'), ['u2', 'u3', 'u4']);
      const changes = await deliveryRows(conn, second, 'changes', paths.last('l'));
      assert.deepEqual(
        changes.map((r) => [r.op, r.user_id]),
        [
          ['add', 'u4'],
          ['remove', 'u1'],
        ],
      );
      assert.equal((await deliveryRows(conn, second, 'full', paths.last('l'))).length, 3);
    });
  });

  it('retries transient refusals, gives up on others, signs each batch, and lists deliveries', async () => {
    const statuses = [200, 503, 400];
    const seen: { key: string; sig: string; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({
          key: String(req.headers['idempotency-key']),
          sig: String(req.headers['x-funnelcast-signature']),
          body,
        });
        res.writeHead(statuses[seen.length - 1] ?? 200).end();
      });
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const target = { url, secret: 's', batchSize: 2, mode: 'full' as const };
    const rows = [1, 2, 3, 4, 5].map((i) => ({ op: 'add', user_id: `u${i}` }));
    const acked: number[] = [];
    const send = (fromBatch: number) =>
      sendBatches({ target, runId: 'r', list: 'l', rows, fromBatch, onBatch: (k) => acked.push(k) });
    try {
      await assert.rejects(send(0), RetryableDeliveryError); // batch 0 ok, batch 1 → 503
      await assert.rejects(send(1), DeliveryRefused); // the retry resumes at batch 1 → 400
      assert.deepEqual(acked, [0]);
      assert.equal(seen[1].key, seen[2].key, 'a retried batch keeps its idempotency key');
      assert.ok(seen.every((s) => s.sig === signBody('s', s.body)));
    } finally {
      server.close();
    }
    const home = tempDir();
    const before = process.env.FUNNELCAST_HOME;
    process.env.FUNNELCAST_HOME = home;
    appendDeliveryLog(deliveryPaths(home, 'sample').log, {
      at: '2024-05-01T10:00:00.000Z',
      runId: 'sample-run',
      list: 'win_back',
      destination: 'hooks.example:443',
      mode: 'full',
      rows: 0,
      batches: 0,
      checksum: '',
      outcome: 'dead-letter',
      reason: 'batch 1/1 to hooks.example:443: HTTP 400',
    });
    const out = await runCli(deliveriesCommand, ['--pipeline', 'sample']).finally(() => {
      if (before === undefined) delete process.env.FUNNELCAST_HOME;
      else process.env.FUNNELCAST_HOME = before;
    });
    assert.equal(out.code, 0);
    assert.match(out.out, /win_back\s+hooks\.example:443\s+full\s+0\s+0\s+—\s+dead-letter: batch 1\/1/);
  });
});
