/**
 * The features activity as an adapter (MockActivityEnvironment, real DuckDB warehouse filled by the extract
 * activity): it writes the feature table, funnel and schema into the run folder it is given (or its `folder`),
 * returns what those files hold (users, positives, label rate, feature names), uses only events before the
 * cutoff, and a second call into another folder leaves the first files as they were.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { withDuckDB } from '../../../warehouse/db';
import { scalar } from '../../helpers/warehouse';
import { features, runDirOf, tinyPipeline } from '../../helpers/tiny-pipeline';
import type { FeatureRef } from '../../../workflows/types';

describe('buildFeatures (activity)', () => {
  it('writes the table, funnel and schema under the run folder and returns what they hold', async () => {
    const p = await tinyPipeline('featact');
    const runDir = runDirOf(p, 'featact-20240315T000000Z-aaaa');
    const ref: FeatureRef = await features(p, runDir, '2024-03-15T00:00:00.000Z');
    assert.equal(dirname(ref.featuresPath), join(runDir, 'features'));
    assert.equal(ref.funnelPath, join(runDir, 'features', 'funnel.json'));
    await withDuckDB(':memory:', async (conn) => {
      const f = `read_parquet('${ref.featuresPath}')`;
      assert.equal(await scalar(conn, `SELECT count(*) FROM ${f}`), ref.users);
      assert.equal(await scalar(conn, `SELECT count(DISTINCT user_id) FROM ${f}`), ref.users);
      assert.equal(await scalar(conn, `SELECT sum(label) FROM ${f}`), ref.positives);
      // Users are those with activity before the cutoff: every one of them is in the warehouse before it.
      const before = await scalar(
        conn,
        `SELECT count(DISTINCT user_id) FROM (SELECT * FROM read_csv('${join(p.loaded.baseDir, 'events.csv')}'))
         WHERE "timestamp" < TIMESTAMP '2024-03-15'`,
      );
      assert.equal(ref.users, before);
    });
    assert.ok(ref.users > 400 && ref.positives > 20 && ref.positives < ref.users, JSON.stringify(ref));
    assert.ok(ref.labelled);
    assert.ok(Math.abs(ref.labelRate! - ref.positives / ref.users) < 1e-9);
    const funnel = JSON.parse(readFileSync(ref.funnelPath, 'utf8'));
    assert.equal(funnel.cutoff, '2024-03-15T00:00:00.000Z');
    assert.deepEqual(funnel.stages, ref.funnel);
    assert.deepEqual(
      ref.funnel.map((s) => s.stage),
      ['view', 'addtocart', 'transaction'],
    );
    const schema = JSON.parse(readFileSync(join(runDir, 'features', 'schema.json'), 'utf8'));
    assert.deepEqual(schema.features, ref.featureNames);
    assert.ok(
      ref.featureNames.length > 5 && !ref.featureNames.includes('label') && !ref.featureNames.includes('user_id'),
    );
  });

  it('an earlier cutoff in another folder: fewer users, its own files, the first ones untouched', async () => {
    const p = await tinyPipeline('featact2');
    const runDir = runDirOf(p, 'featact2-20240331T000000Z-bbbb');
    const live = await features(p, runDir, '2024-03-31T00:00:00.000Z');
    const before = readFileSync(live.featuresPath);
    const training = await features(p, runDir, '2024-02-15T00:00:00.000Z', 'training-features');
    assert.equal(training.featuresPath, join(runDir, 'training-features', 'features.parquet'));
    assert.ok(training.users < live.users, `${training.users} < ${live.users}`);
    assert.deepEqual(readFileSync(live.featuresPath), before);
    assert.equal(JSON.parse(readFileSync(training.funnelPath, 'utf8')).cutoff, '2024-02-15T00:00:00.000Z');
  });
});
