/**
 * The scoring and fold-summary activities as adapters (MockActivityEnvironment, real DuckDB, local registry) on a
 * tiny pipeline run through the real extract, features, train and publish activities. scoreUsers writes one score
 * per user of the feature table (a probability, tagged with the version) and each user's top reasons, and refuses
 * a version trained on other features as non-retryable bad input rather than scoring columns by the wrong position.
 * summariseFolds gives mean ± std of each fold metric and, when every fold's predictions exist, lift by decile.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { scoreUsers, type ScoreResult } from '../../../activities/score';
import { summariseFolds, trainModel } from '../../../activities/train';
import { withDuckDB } from '../../../warehouse/db';
import { readFeatureTable } from '../../../warehouse/matrix';
import { loadScorer } from '../../../ml/scorer';
import { scalar } from '../../helpers/warehouse';
import {
  env,
  features,
  runDirOf,
  tinyDefinition,
  tinyPipeline,
  trainHoldout,
  publish,
} from '../../helpers/tiny-pipeline';
import { inlinePipeline } from '../../helpers/warehouse';
import type { CvSummary, PublishResult, TrainResult } from '../../../workflows/types';

const CUTOFF = '2024-03-15T00:00:00.000Z';

describe('scoreUsers (activity)', () => {
  it('a version that reads sequences, on features built without them: a clear non-retryable error', async () => {
    const p = await tinyPipeline('scoreseq', {
      extra: { model: { engine: 'lstm', seed: 42, lstm: { epochs: 1 } } } as never,
    });
    const runId = 'scoreseq-20240315T000000Z-aaaa';
    const runDir = runDirOf(p, runId);
    const f = await features(p, runDir, CUTOFF);
    assert.ok(f.sequencesPath, 'an LSTM pipeline builds its sequences');
    const pub: PublishResult = await publish(
      p,
      { runId, cutoff: CUTOFF, trainingCutoff: CUTOFF, runDir },
      f,
      await trainHoldout(p, runDir, f),
    );
    // The same version scoring features of a run whose models did not read sequences (none written).
    const err = await env()
      .run(scoreUsers, {
        loaded: p.loaded,
        runDir,
        features: { ...f, sequencesPath: '' },
        versionDir: pub.versionDir,
        version: pub.version,
      })
      .then(
        () => null,
        (e: unknown) => e,
      );
    assert.ok(err instanceof ApplicationFailure && err.nonRetryable, `non-retryable: ${String(err)}`);
    assert.match(err.message, /reads users' event sequences.*rerun from the features step/);
  });

  it('one score per user, tagged with the version, with reasons; another feature list is refused', async () => {
    const p = await tinyPipeline('scoreact');
    const runId = 'scoreact-20240315T000000Z-aaaa';
    const runDir = runDirOf(p, runId);
    const f = await features(p, runDir, CUTOFF);
    const pub: PublishResult = await publish(
      p,
      { runId, cutoff: CUTOFF, trainingCutoff: CUTOFF, runDir },
      f,
      await trainHoldout(p, runDir, f),
    );
    const s: ScoreResult = await env().run(scoreUsers, {
      loaded: p.loaded,
      runDir,
      features: f,
      versionDir: pub.versionDir,
      version: pub.version,
    });
    assert.equal(s.users, f.users);
    assert.equal(s.modelVersion, pub.version);
    assert.ok(s.scoresPath.startsWith(runDir) && s.reasonsPath.startsWith(runDir));
    await withDuckDB(':memory:', async (conn) => {
      const sc = `read_parquet('${s.scoresPath}')`;
      assert.equal(await scalar(conn, `SELECT count(DISTINCT user_id) FROM ${sc}`), f.users);
      assert.equal(await scalar(conn, `SELECT count(*) FROM ${sc}`), f.users);
      const bad = `SELECT count(*) FROM ${sc} WHERE propensity IS NULL OR propensity < 0 OR propensity > 1 OR isnan(propensity)`;
      assert.equal(await scalar(conn, bad), 0);
      assert.equal(await scalar(conn, `SELECT count(*) FROM ${sc} WHERE model_version <> '${pub.version}'`), 0);
      assert.ok((await scalar(conn, `SELECT stddev(propensity) FROM ${sc}`)) > 0, 'not one constant score');
      assert.equal(await scalar(conn, `SELECT count(DISTINCT user_id) FROM read_parquet('${s.reasonsPath}')`), f.users);
      // Each user's own score and reasons (the files take the ids from the feature table by position).
      const t = await readFeatureTable(conn, f.featuresPath, { idColumn: 'user_id', exclude: ['label'] });
      const model = await loadScorer(JSON.parse(readFileSync(join(pub.versionDir, 'model.json'), 'utf8')));
      const want = { p: model.predict({ x: t.x, ids: t.ids }), why: model.explain!({ x: t.x, ids: t.ids }, 3).names };
      const rows = await conn.runAndReadAll(
        `SELECT user_id, propensity, reason_1, reason_2, reason_3 FROM read_parquet('${s.scoresPath}') s
         JOIN read_parquet('${s.reasonsPath}') r USING (user_id) ORDER BY user_id`,
      );
      const byId = new Map(rows.getRows().map((r) => [String(r[0]), r.slice(1)]));
      t.ids.forEach((id, i) => {
        const [p, ...why] = byId.get(id)!;
        assert.equal(p, want.p[i], `propensity of ${id}`);
        assert.deepEqual(
          why,
          [0, 1, 2].map((j) => want.why[i][j] ?? ''),
          `reasons of ${id}`,
        );
      });
    });

    // The same warehouse under a definition with fewer features: this version cannot score its table.
    const fewer = {
      ...p,
      loaded: inlinePipeline(
        tinyDefinition('scoreact', { features: { windows: ['7d'], funnel: ['view', 'addtocart', 'transaction'] } }),
        p.loaded.baseDir,
      ),
    };
    const other = runDirOf(p, 'scoreact-20240315T000000Z-bbbb');
    const f2 = await features(fewer, other, CUTOFF);
    await assert.rejects(
      env().run(scoreUsers, {
        loaded: fewer.loaded,
        runDir: other,
        features: f2,
        versionDir: pub.versionDir,
        version: pub.version,
      }),
      (e: Error) => {
        assert.ok(e instanceof ApplicationFailure && e.nonRetryable, `non-retryable, got ${e}`);
        assert.match(e.message, /was trained on other features \(\d+\) than this run's \(\d+\)/);
        return true;
      },
    );
  });
});

describe('summariseFolds (activity)', () => {
  it('mean ± std over the folds, and lift by decile only when every fold has its predictions', async () => {
    const p = await tinyPipeline('foldsact', { users: 500 });
    const runDir = runDirOf(p, 'foldsact-20240315T000000Z-aaaa');
    const f = await features(p, runDir, CUTOFF);
    const results: TrainResult[] = [];
    for (let i = 0; i < 3; i++)
      results.push(
        await env().run(trainModel, {
          runDir,
          featuresPath: f.featuresPath,
          sequencesPath: f.sequencesPath,
          vocabPath: f.vocabPath,
          model: p.loaded.definition.model,
          engine: 'logistic',
          split: { kind: 'fold' as const, strategy: 'kfold', k: 3, i },
        }),
      );
    const cv: CvSummary = await env().run(summariseFolds, { strategy: 'kfold', results });
    const aucs = results.map((r) => r.metrics!.roc_auc!);
    const mean = aucs.reduce((a, b) => a + b) / 3;
    assert.equal(cv.folds.length, 3);
    assert.ok(Math.abs(cv.mean.roc_auc! - mean) < 1e-12);
    const sd = Math.sqrt(aucs.reduce((a, b) => a + (b - mean) ** 2, 0) / 2);
    const sdPop = Math.sqrt(aucs.reduce((a, b) => a + (b - mean) ** 2, 0) / 3);
    assert.ok(Math.abs(cv.std.roc_auc! - sd) < 1e-12 || Math.abs(cv.std.roc_auc! - sdPop) < 1e-12, `${cv.std.roc_auc}`);
    assert.equal(cv.lift?.length, 10);
    assert.ok(cv.calibration && cv.calibration.length > 0);

    rmSync(results[1]!.predictionsPath!);
    const partial: CvSummary = await env().run(summariseFolds, { strategy: 'kfold', results });
    assert.equal(partial.lift, undefined, 'no curves from two of three folds');
    assert.deepEqual(partial.mean, cv.mean);
  });
});
