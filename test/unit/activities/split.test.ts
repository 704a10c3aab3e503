/**
 * The splits training runs on, through the train activity (MockActivityEnvironment, a tiny pipeline's real feature
 * tables): the k folds' held-out users are disjoint and cover every user; a rolling time split trains on the
 * earlier cutoff's table and is evaluated on every user of the later one; the holdout is the hash holdout (the same
 * users in every run), falling back to a stratified random one only when the hash holdout has one class.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { holdout } from '../../../activities/split';
import { trainModel, type TrainInput } from '../../../activities/train';
import { holdoutByUser } from '../../../ml/cv';
import { withDuckDB } from '../../../warehouse/db';
import { env, features, runDirOf, tinyPipeline } from '../../helpers/tiny-pipeline';
import type { FeatureRef, TrainResult } from '../../../workflows/types';

const userIds = (file: string) =>
  withDuckDB(':memory:', async (conn) =>
    (await conn.runAndReadAll(`SELECT user_id FROM read_parquet('${file}')`)).getRows().map((r) => String(r[0])),
  );

describe('training splits (train activity)', () => {
  it('k folds: disjoint held-out users covering everyone; time split: later table evaluated', async () => {
    const p = await tinyPipeline('splitact', { users: 400 });
    const runDir = runDirOf(p, 'splitact-20240315T000000Z-aaaa');
    const f: FeatureRef = await features(p, runDir, '2024-03-15T00:00:00.000Z');
    const base = {
      runDir,
      featuresPath: f.featuresPath,
      sequencesPath: f.sequencesPath,
      vocabPath: f.vocabPath,
      model: p.loaded.definition.model,
      engine: 'logistic',
    };
    const folds: TrainResult[] = [];
    for (let i = 0; i < 3; i++)
      folds.push(
        await env().run(trainModel, { ...base, split: { kind: 'fold', strategy: 'kfold', k: 3, i } } as TrainInput),
      );
    const held = await Promise.all(folds.map((r) => userIds(r.predictionsPath!)));
    const all = held.flat();
    assert.equal(new Set(all).size, all.length, 'no user held out twice');
    assert.equal(all.length, f.users, 'every user held out once');
    for (const r of folds) assert.equal(r.nTrain + r.nTest, f.users);

    const earlier: FeatureRef = await features(p, runDir, '2024-02-14T00:00:00.000Z', 'features-t1');
    const time = (await env().run(trainModel, {
      ...base,
      split: { kind: 'time', k: 1, i: 0, trainFeaturesPath: earlier.featuresPath, validFeaturesPath: f.featuresPath },
    } as TrainInput)) as TrainResult;
    assert.equal(time.nTrain, earlier.users);
    assert.equal(time.nTest, f.users);
    assert.deepEqual((await userIds(time.predictionsPath!)).sort(), (await userIds(f.featuresPath)).sort());
  });

  it('holdout: the hash holdout, or a stratified one when the hash holdout has one class', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `u${i}`);
    const byHash = holdoutByUser(ids, 0.2, 42);
    const y = Uint8Array.from(ids, (_, i) => (i % 4 === 0 ? 1 : 0));
    assert.deepEqual(Array.from(holdout(ids, y, 0.2, 42).test), Array.from(byHash.test));
    // Positives only outside the hash holdout: it would have one class, so a stratified split is used instead.
    const inTest = new Set(Array.from(byHash.test));
    const yOut = Uint8Array.from(ids, (_, i) => (!inTest.has(i) && i % 3 === 0 ? 1 : 0));
    const fallback = holdout(ids, yOut, 0.2, 42);
    const positives = Array.from(fallback.test).filter((i) => yOut[i] === 1).length;
    assert.ok(positives > 0 && positives < fallback.test.length, `${positives} of ${fallback.test.length}`);
  });
});
