/**
 * The LSTM fit as a training activity runs it (fitLstm through trainModel, MockActivityEnvironment, the sequences
 * the real features activity wrote for a tiny pipeline, no store): a heartbeat per epoch naming the model and the
 * epoch, so a retry knows where the lost attempt was; a cancel stops training within the epoch it arrives in, is
 * reported as a cancellation (not a failure to retry), and leaves no result file, so nothing half-trained is used.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import { trainModel } from '../../../activities/train';
import { modelSpec } from '../../../pipelines/schema/model';
import { env, features, runDirOf, tinyPipeline } from '../../helpers/tiny-pipeline';
import type { FeatureRef, TrainResult } from '../../../workflows/types';

const lstm = {
  engine: 'lstm',
  seed: 3,
  lstm: { units: 8, embeddingDim: 4, epochs: 4, batchSize: 64, patience: 0 },
} as const;
const model = modelSpec.parse(lstm);

async function setup(name: string) {
  // An LSTM pipeline: its features step writes the users' sequences (a tabular one skips them).
  const p = await tinyPipeline(name, { users: 400, extra: { model: lstm } });
  const runDir = runDirOf(p, `${name}-20240315T000000Z-aaaa`);
  const f: FeatureRef = await features(p, runDir, '2024-03-15T00:00:00.000Z');
  const input = {
    runDir,
    featuresPath: f.featuresPath,
    sequencesPath: f.sequencesPath,
    vocabPath: f.vocabPath,
    model,
    engine: 'lstm',
    split: { kind: 'holdout' as const },
  };
  return { runDir, input };
}

describe('fitLstm inside trainModel (activity)', { timeout: 120_000 }, () => {
  it('heartbeats every epoch with the model and epoch, and returns an evaluated model', async () => {
    const { input } = await setup('lstmact');
    const e = env();
    const beats: { model?: string; epoch?: number }[] = [];
    e.on('heartbeat', (d: unknown) => beats.push((d ?? {}) as { model?: string; epoch?: number }));
    const r: TrainResult = await e.run(trainModel, input);
    assert.equal(r.engine, 'lstm');
    assert.ok(existsSync(r.modelPath));
    assert.ok(r.metrics && Number.isFinite(r.metrics.roc_auc), JSON.stringify(r.metrics));
    const epochs = [...new Set(beats.filter((b) => b.model === 'lstm-holdout').map((b) => b.epoch))];
    assert.deepEqual(
      epochs.filter((x) => (x ?? 0) > 0),
      [1, 2, 3, 4],
      `epochs heartbeated: ${JSON.stringify(beats)}`,
    );
  });

  it('a cancel stops training as a cancellation and leaves no result', async () => {
    const { runDir, input } = await setup('lstmact2');
    const e = env();
    e.on('heartbeat', (d: unknown) => {
      if ((d as { epoch?: number } | undefined)?.epoch === 1) e.cancel();
    });
    const started = Date.now();
    await assert.rejects(
      e.run(trainModel, { ...input, model: { ...model, lstm: { ...model.lstm, epochs: 200 } } }),
      (err) => {
        assert.ok(err instanceof CancelledFailure, `a cancellation, got ${err}`);
        return true;
      },
    );
    assert.ok(Date.now() - started < 60_000, 'stopped long before 200 epochs');
    const models = join(runDir, 'models');
    assert.ok(!readdirSync(models).some((f) => f.endsWith('.result.json')), `${readdirSync(models)}`);
  });
});
