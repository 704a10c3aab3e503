/**
 * A fold's training checkpoint survives the loss of the worker that wrote it: attempt 1 trains on machine A (its
 * own FUNNELCAST_HOME) with the store on a real S3 server (Versity Gateway) and is stopped after some trees;
 * attempt 2 on machine B, which shares nothing with A but the store, resumes from A's trees and ends with the same
 * model as an uninterrupted fit. The checkpoint is gone from the store once the fold's result is written.
 * The same for the boosted engine's chunks of rounds, and for the LSTM's epochs (stored as whole epochs: weights,
 * Adam's moments, the best epoch so far). Before, checkpoints stayed in A's home: B started from tree (epoch) 0.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { trainModel, type TrainInput } from '../../../activities/train';
import { unpackFiles } from '../../../activities/checkpoint-store';
import { modelSpec } from '../../../pipelines/schema/model';
import { withDuckDB } from '../../../warehouse/db';
import { S3Store, s3Location, type ArtifactStore } from '../../../store';
import type { ObjectServer } from '../../../store/versitygw';
import { startTestObjectServer } from '../../helpers/object-store';
import type { TrainResult } from '../../../workflows/types';

async function featureTable(rows: number): Promise<string> {
  const file = join(mkdtempSync(join(tmpdir(), 'fc-ckpt-data-')), 'features.parquet');
  await withDuckDB(':memory:', (conn) =>
    conn.run(`COPY (
      SELECT 'u' || i AS user_id, CASE WHEN f1 + 0.6 * f2 + 0.5 * noise > 1.15 THEN 1 ELSE 0 END AS label, f1, f2, f3
      FROM (SELECT i, (hash(i) % 1000) / 1000.0 AS f1, (hash(i * 7 + 1) % 1000) / 1000.0 AS f2,
                   (hash(i * 11 + 3) % 1000) / 1000.0 AS f3, (hash(i * 13 + 5) % 1000) / 1000.0 AS noise
            FROM range(${rows}) t(i))
    ) TO '${file}' (FORMAT parquet)`),
  );
  return file;
}

/** Users' event sequences (tokens 1-5, the label carried by token 5 late in the sequence) and their vocabulary. */
async function sequenceTable(users: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'fc-ckpt-seq-'));
  writeFileSync(join(dir, 'sequences.vocab.json'), JSON.stringify({ '<pad>': 0, a: 1, b: 2, c: 3, d: 4, buy: 5 }));
  await withDuckDB(':memory:', (conn) =>
    conn.run(`COPY (
      SELECT 'u' || lpad(i::VARCHAR, 5, '0') AS user_id, CASE WHEN hash(i) % 3 = 0 THEN 1 ELSE 0 END AS label,
        list_transform(range(8), j -> CASE WHEN hash(i) % 3 = 0 AND j > 5 AND hash(i * 7 + j) % 2 = 0 THEN 5
                                           ELSE (hash(i * 31 + j) % 4 + 1)::INTEGER END) AS tokens,
        list_transform(range(8), j -> ((hash(i + j) % 100) / 10.0)::DOUBLE) AS gaps,
        list_transform(range(8), j -> 0.0::DOUBLE) AS revenue, 8 AS padded_to
      FROM range(${users}) t(i)
    ) TO '${join(dir, 'sequences.parquet')}' (FORMAT parquet)`),
  );
  return dir;
}

/** The checkpoint files stored under a prefix (uploaded in packs of the files written since the last upload). */
async function storedFiles(store: ArtifactStore, prefix: string): Promise<number> {
  let n = 0;
  for (const key of await store.list(prefix)) n += unpackFiles((await store.get(key))!.body).length;
  return n;
}

const machine = () => mkdtempSync(join(tmpdir(), 'fc-ckpt-home-'));
const input = (home: string, featuresPath: string, engine: string): TrainInput => ({
  runDir: join(home, 'runs', 'ckpt', 'run1'),
  featuresPath,
  sequencesPath: '',
  vocabPath: '',
  model: modelSpec.parse({
    engine,
    seed: 7,
    forest: { nTrees: 40, maxDepth: 6 },
    boosted: { nRounds: 60, earlyStoppingRounds: 0, checkpointEvery: 5 },
    lstm: { units: 8, embeddingDim: 4, epochs: 6, batchSize: 64, patience: 0 },
  }),
  engine,
  split: { kind: 'fold', strategy: 'kfold', k: 3, i: 1 },
});
const attempt = (n: number) =>
  new MockActivityEnvironment(
    { attempt: n, activityId: 'train-fold2', heartbeatTimeoutMs: 30_000 },
    { logger: new DefaultLogger('ERROR') },
  );

describe('training checkpoints in the artifact store', { timeout: 180_000 }, () => {
  let server: ObjectServer;
  const saved = { ...process.env };
  before(async () => {
    server = await startTestObjectServer('ckpt');
  });
  after(async () => {
    process.env = saved;
    await server?.stop();
  });

  for (const [engine, stopAt, minStored] of [
    ['forest', 15, 10],
    ['boosted', 30, 3],
  ] as const)
    it(`${engine}: a retry on another worker resumes from the trees the lost attempt stored`, async () => {
      const features = await featureTable(3_000);
      process.env.FUNNELCAST_HOME = machine();
      delete process.env.FUNNELCAST_STORE;
      const reference: TrainResult = await attempt(1).run(
        trainModel,
        input(process.env.FUNNELCAST_HOME, features, engine),
      );

      Object.assign(process.env, server.env('fc'), { FUNNELCAST_STORE: `s3://${server.bucket}/fc` });
      const store = new S3Store(s3Location(`s3://${server.bucket}/fc`));
      const prefix = `checkpoints/runs/ckpt/run1/models/${engine}-fold2of3.checkpoint/`;
      process.env.FUNNELCAST_HOME = machine();
      const first = attempt(1);
      let stopped = false;
      first.on('heartbeat', (d: { done?: number }) => {
        if (!stopped && (d.done ?? 0) >= stopAt) {
          stopped = true;
          first.cancel('TIMED_OUT'); // the worker is lost: its home goes with it
        }
      });
      await assert.rejects(first.run(trainModel, input(process.env.FUNNELCAST_HOME, features, engine)));
      const stored = await storedFiles(store, prefix);
      assert.ok(stored >= minStored, `the stopped attempt stored its trees: ${stored}`);

      process.env.FUNNELCAST_HOME = machine();
      const retry: TrainResult = await attempt(2).run(trainModel, input(process.env.FUNNELCAST_HOME, features, engine));
      assert.ok(retry.resumedFrom! >= minStored, `resumed from ${retry.resumedFrom} trees`);
      assert.deepEqual(retry.metrics, reference.metrics, 'the same model as an uninterrupted fit');
      assert.deepEqual(await store.list(prefix), [], 'the checkpoint is deleted once the result is written');
    });

  it('lstm: a retry on another worker resumes from the epochs the lost attempt stored', async () => {
    const seqDir = await sequenceTable(2_000);
    const lstmInput = (home: string): TrainInput => ({
      ...input(home, join(seqDir, 'features.parquet'), 'lstm'),
      sequencesPath: join(seqDir, 'sequences.parquet'),
    });
    process.env.FUNNELCAST_HOME = machine();
    delete process.env.FUNNELCAST_STORE;
    const reference: TrainResult = await attempt(1).run(trainModel, lstmInput(process.env.FUNNELCAST_HOME));

    Object.assign(process.env, server.env('fc'), { FUNNELCAST_STORE: `s3://${server.bucket}/fc` });
    const store = new S3Store(s3Location(`s3://${server.bucket}/fc`));
    const prefix = 'checkpoints/runs/ckpt/run1/models/lstm-fold2of3.lstm/';
    process.env.FUNNELCAST_HOME = machine();
    const first = attempt(1);
    let stopped = false;
    first.on('heartbeat', (d: { epoch?: number }) => {
      if (!stopped && (d.epoch ?? 0) >= 3) {
        stopped = true;
        first.cancel('TIMED_OUT'); // the worker is lost: its home goes with it
      }
    });
    await assert.rejects(first.run(trainModel, lstmInput(process.env.FUNNELCAST_HOME)));
    const latest = await store.get(`${prefix}latest.json`);
    const storedEpoch = latest ? (JSON.parse(latest.body.toString()) as { epoch: number }).epoch : 0;
    assert.ok(storedEpoch >= 3, `the stopped attempt stored its epochs: up to ${storedEpoch}`);

    process.env.FUNNELCAST_HOME = machine();
    const retry: TrainResult = await attempt(2).run(trainModel, lstmInput(process.env.FUNNELCAST_HOME));
    assert.equal(retry.resumedFrom, storedEpoch, `resumed from epoch ${retry.resumedFrom}`);
    assert.deepEqual(retry.metrics, reference.metrics, 'the same model as an uninterrupted fit');
    assert.deepEqual(await store.list(prefix), [], 'the checkpoint is deleted once the result is written');
  });
});
