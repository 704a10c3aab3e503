/**
 * A cancelled or timed-out training attempt really stops, and two attempts of one fold never share files: the
 * retry of a fold whose heartbeat stopped used to crash with ENOENT on `<fold>.predictions.parquet.tmp-<pid>`
 * because the cancelled attempt kept running and wrote the same temp names (issue 17).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { trainModel, type TrainInput } from '../../../activities/train';
import { modelSpec } from '../../../pipelines/schema/model';
import { withDuckDB } from '../../../warehouse/db';
import { tempDir } from '../../helpers/warehouse';
import type { TrainResult } from '../../../workflows/types';

/** A small feature table whose label depends on the features (so the forest learns something checkable). */
async function featureTable(rows: number): Promise<string> {
  const file = join(tempDir('fc-attempts-data-'), 'features.parquet');
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

function input(featuresPath: string, engine: string, nTrees: number): TrainInput {
  return {
    runDir: tempDir('fc-attempts-run-'),
    featuresPath,
    sequencesPath: '',
    vocabPath: '',
    model: modelSpec.parse({ engine, seed: 7, forest: { nTrees, maxDepth: 6 } }),
    engine,
    split: { kind: 'fold', strategy: 'kfold', k: 3, i: 1 },
  };
}

/** Every file under the run's models folder whose name shows it is a temp file. */
function tempFiles(runDir: string): string[] {
  const dir = join(runDir, 'models');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.tmp-/.test(f));
}

const attempt = (n: number) =>
  new MockActivityEnvironment(
    { attempt: n, activityId: 'train-fold2', heartbeatTimeoutMs: 30_000 },
    { logger: new DefaultLogger('ERROR') }, // the cancelled attempts' failures are expected here
  );

describe('training attempts', () => {
  it('a cancelled attempt stops within a bound and writes nothing after the cancellation', async () => {
    // 3,000 rows grow the trees on this thread, 12,000 on worker threads (which must be terminated).
    for (const [rows, when] of [
      [3_000, 'first'],
      [3_000, 'last'],
      [12_000, 'first'],
      [12_000, 'last'],
    ] as const) {
      const inp = input(await featureTable(rows), 'forest', 40);
      const env = attempt(1);
      let cancelledAt = 0;
      env.on('heartbeat', (d: { done: number; total: number }) => {
        // 'last': the cancellation arrives while the last tree is reported, i.e. when the work after the fit
        // (predictions, files) is about to run: today it ran to the end and wrote the fold's result anyway.
        if (cancelledAt === 0 && (when === 'first' || d.done === d.total)) {
          cancelledAt = performance.now();
          env.cancel('TIMED_OUT');
        }
      });
      await assert.rejects(env.run(trainModel, inp));
      const stoppedWithin = performance.now() - cancelledAt;
      assert.ok(cancelledAt > 0, 'the attempt heartbeat');
      assert.ok(
        stoppedWithin < 2_000,
        `${rows} rows, cancelled at the ${when} tree, it stopped after ${stoppedWithin} ms`,
      );
      const models = join(inp.runDir, 'models');
      const before = readdirSync(models, { recursive: true }).length;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(readdirSync(models, { recursive: true }).length, before, 'nothing is written after it stopped');
      assert.deepEqual(tempFiles(inp.runDir), []);
      for (const f of ['result.json', 'model.json', 'predictions.parquet'])
        assert.ok(!existsSync(join(models, `forest-fold2of3.${f}`)), `cancelled at the ${when} tree, no ${f}`);
    }
  });

  it('a late-cancelled attempt running beside its retry in one process does not break the retry', async () => {
    const features = await featureTable(4_000);
    const reference: TrainResult = await attempt(1).run(trainModel, input(features, 'forest', 30));
    for (const engine of ['forest', 'logistic']) {
      const inp = input(features, engine, 30);
      const first = attempt(1);
      const retry = attempt(2);
      let retryDone = false;
      // Attempt 1 is told about its timeout only late: after the retry has finished training.
      retry.on('heartbeat', (d: { done: number; total: number }) => {
        if (!retryDone && d.done === d.total) {
          retryDone = true;
          first.cancel('TIMED_OUT');
        }
      });
      const [a1, a2] = await Promise.allSettled([first.run(trainModel, inp), retry.run(trainModel, inp)]);
      assert.equal(a2.status, 'fulfilled', `the retry failed: ${a2.status === 'rejected' ? a2.reason : ''}`);
      if (a1.status === 'rejected') assert.doesNotMatch(String(a1.reason), /ENOENT/);
      const r = (a2 as PromiseFulfilledResult<TrainResult>).value;
      assert.equal(r.reused, false);
      const stored = JSON.parse(readFileSync(join(inp.runDir, 'models', `${engine}-fold2of3.result.json`), 'utf8'));
      assert.deepEqual(stored.metrics, r.metrics, 'the result file is the retry’s');
      if (engine === 'forest') assert.deepEqual(r.metrics, reference.metrics, 'the same model as a run alone');
      const rows = await withDuckDB(':memory:', async (conn) =>
        Number(
          (
            await conn.runAndReadAll(`SELECT count(*) FROM read_parquet($p)`, { p: r.predictionsPath! })
          ).getRows()[0][0],
        ),
      );
      assert.equal(rows, r.nTest);
      assert.deepEqual(tempFiles(inp.runDir), []);
    }
  });
});
