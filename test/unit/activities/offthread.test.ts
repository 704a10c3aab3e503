/**
 * The CPU-heavy activity bodies on worker threads (activities/offthread.ts): training (matrix read, forest,
 * logistic, metrics, importances) and scoring with reasons give the same files, bit for bit, as on the main
 * thread; heartbeats are relayed from the thread; bad input stays non-retryable; a cancellation stops the thread.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { trainModel, type TrainInput } from '../../../activities/train';
import { scoreUsers, type ScoreResult } from '../../../activities/score';
import { offThread, scoringIsolation, trainingIsolation } from '../../../activities/offthread';
import { modelSpec } from '../../../pipelines/schema/model';
import type { LoadedPipeline } from '../../../pipelines/load';
import type { FeatureRef, TrainResult } from '../../../workflows/types';
import { withDuckDB } from '../../../warehouse/db';
import { tempDir } from '../../helpers/warehouse';

async function featureTable(rows: number): Promise<string> {
  const file = join(tempDir('fc-offthread-data-'), 'features.parquet');
  await withDuckDB(':memory:', (conn) =>
    conn.run(`COPY (
      SELECT 'u' || i AS user_id, CASE WHEN f1 + 0.6 * f2 + 0.5 * noise > 1.15 THEN 1 ELSE 0 END AS label, f1, f2, f3, f4
      FROM (SELECT i, (hash(i) % 1000) / 1000.0 AS f1, (hash(i * 7 + 1) % 1000) / 1000.0 AS f2,
                   (hash(i * 11 + 3) % 1000) / 1000.0 AS f3, (hash(i * 5 + 2) % 100)::DOUBLE AS f4,
                   (hash(i * 13 + 5) % 1000) / 1000.0 AS noise
            FROM range(${rows}) t(i))
    ) TO '${file}' (FORMAT parquet)`),
  );
  return file;
}

const input = (featuresPath: string, engine: string): TrainInput => ({
  runDir: tempDir('fc-offthread-run-'),
  featuresPath,
  sequencesPath: '',
  vocabPath: '',
  model: modelSpec.parse({ engine, seed: 7, forest: { nTrees: 20, maxDepth: 6 } }),
  engine,
  split: { kind: 'holdout' },
});

const env = () =>
  new MockActivityEnvironment({ attempt: 1, heartbeatTimeoutMs: 30_000 }, { logger: new DefaultLogger('ERROR') });
const trainOffThread = offThread('trainModel', trainModel, trainingIsolation);
const scoreOffThread = offThread('scoreUsers', scoreUsers, scoringIsolation);

async function rows(file: string): Promise<unknown[][]> {
  return withDuckDB(':memory:', async (c) =>
    (await c.runAndReadAll(`SELECT * FROM read_parquet('${file}')`)).getRows(),
  );
}

describe('activity bodies on worker threads', () => {
  it('train the same models and write the same files as on the main thread (forest, logistic)', async () => {
    const features = await featureTable(20_000);
    for (const engine of ['forest', 'logistic']) {
      const onMain: TrainResult = await env().run(trainModel, input(features, engine));
      const e = env();
      const beats: unknown[] = [];
      e.on('heartbeat', (d: unknown) => beats.push(d));
      const inThread: TrainResult = await e.run(trainOffThread, input(features, engine));
      assert.deepEqual(inThread.metrics, onMain.metrics, engine);
      assert.equal(readFileSync(inThread.modelPath, 'utf8'), readFileSync(onMain.modelPath, 'utf8'), engine);
      assert.deepEqual(await rows(inThread.predictionsPath!), await rows(onMain.predictionsPath!));
      assert.ok(
        beats.some((b) => (b as { unit?: string })?.unit),
        `${engine}: the fit's heartbeats were relayed`,
      );
    }
  });

  it('score every user with the same propensities and reasons as on the main thread', async () => {
    const features = await featureTable(8_000);
    const trained: TrainResult = await env().run(trainModel, input(features, 'forest'));
    const versionDir = tempDir('fc-offthread-version-');
    copyFileSync(trained.modelPath, join(versionDir, 'model.json'));
    const loaded = { definition: { label: { event: 'buy' } } } as unknown as LoadedPipeline;
    const ref = { featuresPath: features, sequencesPath: '', vocabPath: '' } as FeatureRef;
    const score = (fn: typeof scoreUsers, runDir: string): Promise<ScoreResult> =>
      env().run(fn, { loaded, runDir, features: ref, versionDir, version: 'v0001' });
    const a = await score(scoreUsers, tempDir('fc-offthread-score-'));
    const b = await score(scoreOffThread, tempDir('fc-offthread-score-'));
    assert.equal(b.users, 8_000);
    assert.deepEqual(await rows(b.scoresPath), await rows(a.scoresPath));
    assert.deepEqual(await rows(b.reasonsPath), await rows(a.reasonsPath));
    assert.equal(scoringIsolation({ versionDir }), 'thread');
    mkdirSync(join(versionDir, 'lstm'));
    assert.equal(scoringIsolation({ versionDir: join(versionDir, 'lstm') }), 'process', 'no model: the body says so');
  });

  it('trains the TensorFlow.js engines in a child process, never on the main thread', () => {
    assert.equal(trainingIsolation({ engine: 'forest' }), 'thread');
    assert.equal(trainingIsolation({ engine: 'lstm' }), 'process');
    assert.equal(trainingIsolation({ engine: 'blend' }), 'process');
  });

  it('keeps bad input non-retryable across the thread', async () => {
    const bad = input(join(tempDir('fc-offthread-none-'), 'missing.parquet'), 'forest');
    const e = await env()
      .run(trainOffThread, bad)
      .catch((x: unknown) => x);
    assert.ok(e instanceof ApplicationFailure, String(e));
    assert.equal(e.nonRetryable, true);
    assert.match(e.message, /cannot read|missing/);
  });

  it('a cancellation stops the thread and the attempt', async () => {
    const e = env();
    let cancelled = 0;
    e.on('heartbeat', () => {
      if (!cancelled) {
        cancelled = performance.now();
        e.cancel('TIMED_OUT');
      }
    });
    await assert.rejects(e.run(trainOffThread, input(await featureTable(20_000), 'forest')));
    assert.ok(cancelled > 0 && performance.now() - cancelled < 6_000, 'stopped within the grace period');
  });
});
