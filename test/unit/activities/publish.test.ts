/**
 * The publish activity as an adapter (MockActivityEnvironment, real DuckDB, local registry) on a tiny pipeline run
 * through the real extract, features and train activities: the first model becomes the champion with an immutable
 * version (model, feature schema, funnel, held-out predictions; manifest checksums; lineage with the loaded files);
 * a worse model is compared with the champion on the same held-out rows and kept a challenger, and the run is told
 * to score with the champion; a backtest never moves the pointer; a model without the primary metric fails
 * non-retryably and publishes nothing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { publishModel } from '../../../activities/publish';
import { openRegistry } from '../../../registry/open';
import { verifyManifest } from '../../../registry';
import { paths } from '../../../infra/paths';
import { env, features, runDirOf, tinyPipeline, trainHoldout, type TinyPipeline } from '../../helpers/tiny-pipeline';
import type { FeatureRef, PublishResult, TrainResult } from '../../../workflows/types';

const CUTOFF = '2024-03-15T00:00:00.000Z';

async function trainedRun(p: TinyPipeline, runId: string) {
  const runDir = runDirOf(p, runId);
  const f: FeatureRef = await features(p, runDir, CUTOFF);
  const trained: TrainResult = await trainHoldout(p, runDir, f);
  return { runDir, f, trained };
}

const publishInput = (p: TinyPipeline, runId: string, r: Awaited<ReturnType<typeof trainedRun>>) => ({
  loaded: p.loaded,
  runId,
  cutoff: CUTOFF,
  trainingCutoff: CUTOFF,
  runDir: r.runDir,
  trained: r.trained,
  cv: null,
  baselines: [],
  extract: p.extract,
  features: r.f,
});

describe('publishModel (activity)', () => {
  it('first model: an immutable version with manifest and lineage, and the champion pointer on it', async () => {
    const p = await tinyPipeline('pubact');
    const runId = 'pubact-20240315T000000Z-aaaa';
    const r = await trainedRun(p, runId);
    assert.ok(r.trained.metrics!.roc_auc! > 0.5, `a model that learned something: ${r.trained.metrics!.roc_auc}`);
    const out: PublishResult = await env().run(publishModel, publishInput(p, runId, r));
    const v = `v0001-${runId}`;
    assert.equal(out.version, v);
    assert.equal(out.kind, 'live');
    assert.equal(out.decision, 'first');
    assert.equal(out.champion, v);
    assert.equal(out.comparison, null);
    assert.deepEqual(out.scoreWith, { version: v, versionDir: out.versionDir });
    assert.ok(out.versionDir.startsWith(paths.registry('pubact')), out.versionDir);
    assert.ok(!out.versionDir.startsWith(r.runDir), 'the version is a copy, not the run folder');
    const files = readdirSync(out.versionDir);
    for (const f of ['model.json', 'features.json', 'funnel.json', 'holdout-predictions.parquet', 'manifest.json'])
      assert.ok(files.includes(f), `${f} in ${files}`);
    assert.deepEqual(verifyManifest(out.versionDir), [], 'every file matches its sha256');
    assert.deepEqual(readFileSync(join(out.versionDir, 'model.json')), readFileSync(r.trained.modelPath));
    const reg = await openRegistry('pubact');
    assert.equal(reg.champion()?.version, v);
    const info = reg.info(v);
    assert.equal(info.runId, runId);
    assert.equal((info.metrics.holdout as Record<string, number>).roc_auc, r.trained.metrics!.roc_auc);
    const lineage = info.lineage as { cutoff: string; sources: { loaded: number }[]; trainedRows: number };
    assert.equal(lineage.cutoff, CUTOFF);
    assert.equal(lineage.trainedRows, r.trained.nTrain);
    assert.equal(
      lineage.sources.reduce((a, s) => a + s.loaded, 0),
      p.extract.loaded,
      'the loaded files, from the warehouse',
    );
  });

  it('a worse model: compared on the same rows, kept a challenger, the run scores with the champion', async () => {
    const p = await tinyPipeline('pubact2');
    const first = 'pubact2-20240315T000000Z-aaaa';
    const champ = `v0001-${first}`;
    await env().run(publishModel, publishInput(p, first, await trainedRun(p, first)));
    const second = 'pubact2-20240315T000000Z-bbbb';
    const r = await trainedRun(p, second);
    // The same model, said to be 0.2 worse on its holdout: the gate must keep the champion.
    const real = r.trained.metrics!.roc_auc!;
    const worse = { ...r, trained: { ...r.trained, metrics: { ...r.trained.metrics!, roc_auc: real - 0.2 } } };
    const out: PublishResult = await env().run(publishModel, publishInput(p, second, worse));
    assert.equal(out.version, `v0002-${second}`);
    assert.equal(out.decision, 'challenger');
    assert.equal(out.champion, champ);
    assert.equal(out.scoreWith.version, champ);
    assert.equal(out.comparison?.sameRows, true, out.comparison?.why ?? '');
    // Re-scored on this run's held-out rows: the champion is the same logistic fit on the same data.
    assert.ok(
      Math.abs(out.comparison!.metrics.roc_auc! - real) < 1e-9,
      `${out.comparison!.metrics.roc_auc} vs ${real}`,
    );
    assert.ok(existsSync(out.comparison!.predictionsPath!));
    assert.equal((await openRegistry('pubact2')).champion()?.version, champ);

    // A backfill run publishes a backtest: even a better model leaves the pointer where it is.
    const third = 'pubact2-20240315T000000Z-cccc';
    const b = await trainedRun(p, third);
    const better = { ...b, trained: { ...b.trained, metrics: { ...b.trained.metrics!, roc_auc: real + 0.05 } } };
    const bt: PublishResult = await env().run(publishModel, { ...publishInput(p, third, better), backtest: 'bf-1' });
    assert.equal(bt.kind, 'backtest');
    assert.equal(bt.scoreWith.version, bt.version, 'a backtest scores with its own model');
    assert.equal((await openRegistry('pubact2')).champion()?.version, champ);
  });

  it('a model without the primary metric fails non-retryably and publishes nothing', async () => {
    const p = await tinyPipeline('pubact3', { users: 300 });
    const runId = 'pubact3-20240315T000000Z-aaaa';
    const r = await trainedRun(p, runId);
    const none = { ...r, trained: { ...r.trained, metrics: { log_loss: 0.5 } } };
    await assert.rejects(env().run(publishModel, publishInput(p, runId, none)), (e: Error) => {
      assert.ok(e instanceof ApplicationFailure && e.nonRetryable, `non-retryable, got ${e}`);
      assert.match(e.message, /no roc_auc on its held-out users/);
      return true;
    });
    const reg = await openRegistry('pubact3');
    assert.deepEqual(reg.versions(), []);
    assert.equal(reg.champion(), null);
  });
});
