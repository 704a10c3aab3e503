/**
 * The segments activity as an adapter (MockActivityEnvironment, real DuckDB, local store) on a tiny pipeline run
 * through the real extract, features, train, publish and score activities: every scored user gets a segment row,
 * each campaign list is written as CSV and Parquet holding the rows it reports (its expected conversions are the
 * listed users' propensities), the lists are delivered to `export.destination` under the export root, the
 * previous run is the latest one at an earlier cutoff, and a production export without its salt fails
 * non-retryably.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { buildSegments, previousRunDir, type SegmentsRef } from '../../../activities/segments';
import { scoreUsers, type ScoreResult } from '../../../activities/score';
import { paths } from '../../../infra/paths';
import { withDuckDB } from '../../../warehouse/db';
import { scalar, tempDir } from '../../helpers/warehouse';
import { env, features, runDirOf, tinyPipeline, trainHoldout, publish } from '../../helpers/tiny-pipeline';
import type { PublishResult } from '../../../workflows/types';

const CUTOFF = '2024-03-15T00:00:00.000Z';
const extra = {
  campaigns: [
    { name: 'top', filter: { field: 'propensity_decile', op: 'lte', value: 3 }, action: 'send the offer' } as const,
  ],
  export: { destination: 'crm' },
};

/** A scored run of a fresh tiny pipeline: what buildSegments receives from the workflow. */
async function scoredRun(name: string, more: Record<string, unknown> = {}) {
  const p = await tinyPipeline(name, { extra: { ...extra, ...more } });
  const runId = `${name}-20240315T000000Z-aaaa`;
  const runDir = runDirOf(p, runId);
  const f = await features(p, runDir, CUTOFF);
  const trained = await trainHoldout(p, runDir, f);
  const pub: PublishResult = await publish(p, { runId, cutoff: CUTOFF, trainingCutoff: CUTOFF, runDir }, f, trained);
  const s: ScoreResult = await env().run(scoreUsers, {
    loaded: p.loaded,
    runDir,
    features: f,
    versionDir: pub.scoreWith.versionDir,
    version: pub.scoreWith.version,
  });
  const input = {
    loaded: p.loaded,
    runId,
    cutoff: CUTOFF,
    runDir,
    featuresPath: f.featuresPath,
    scoresPath: s.scoresPath,
    reasonsPath: s.reasonsPath,
    modelVersion: s.modelVersion,
    outcomesObserved: true,
  };
  return { p, input, scored: s.users };
}

describe('buildSegments (activity)', () => {
  const saved = { ...process.env };
  after(() => {
    process.env = saved;
  });

  it('a segment row per scored user; each list as CSV and Parquet with its rows; delivered to the destination', async () => {
    const { p, input, scored } = await scoredRun('segact');
    const ref: SegmentsRef = await env().run(buildSegments, input);
    assert.ok(ref.segmentsPath.startsWith(input.runDir) && existsSync(ref.manifestPath));
    const [top] = ref.exports;
    assert.equal(ref.exports.length, 1);
    assert.equal(top!.campaign, 'top');
    await withDuckDB(':memory:', async (conn) => {
      const seg = `read_parquet('${ref.segmentsPath}')`;
      assert.equal(await scalar(conn, `SELECT count(*) FROM ${seg}`), scored);
      assert.equal(await scalar(conn, `SELECT count(DISTINCT propensity_decile) FROM ${seg}`), 10);
      const list = `read_parquet('${top!.parquetPath}')`;
      assert.equal(await scalar(conn, `SELECT count(*) FROM ${list}`), top!.rows);
      const deciles = `SELECT count(*) FROM ${list} JOIN ${seg} s USING (user_id) WHERE s.propensity_decile > 3`;
      assert.equal(await scalar(conn, deciles), 0, 'only deciles 1-3 on the list');
      const expected = await scalar(
        conn,
        `SELECT sum(sc.propensity) FROM ${list} l JOIN read_parquet('${input.scoresPath}') sc USING (user_id)`,
      );
      assert.ok(Math.abs(top!.expectedConversions - expected) < 1e-6 * Math.max(1, expected));
    });
    assert.ok(top!.rows > 0.2 * scored && top!.rows <= 0.3 * scored + 1, `${top!.rows} of ${scored}`);
    // A header and one line per listed user.
    assert.equal(readFileSync(top!.csvPath, 'utf8').trim().split('\n').length, top!.rows + 1);
    const realised = top!.realisedConversions ?? -1;
    assert.ok(realised >= 0 && realised <= top!.rows, `realised ${top!.realisedConversions}`);
    assert.equal(ref.marketer.campaigns[0]?.rows, top!.rows);
    // Delivered: the export root's destination holds the list and the manifest, and the result says so.
    const dest = join(paths.exportRoot(), 'crm');
    assert.ok(ref.delivery, 'delivery recorded');
    const delivered = readdirSync(dest);
    assert.ok(delivered.includes('manifest.json') && delivered.some((f) => f.startsWith('top')), `${delivered}`);
    assert.deepEqual(
      readFileSync(
        join(
          dest,
          delivered.find((f) => f.startsWith('top') && f.endsWith('.csv'))!,
        ),
      ),
      readFileSync(top!.csvPath),
    );
    assert.ok(p.home && top!.csvPath.startsWith(input.runDir));
  });

  it('a production export with hashed ids and no salt fails non-retryably', async () => {
    const { input } = await scoredRun('segact2', { export: { destination: 'crm', hashUserIds: true } });
    process.env.FUNNELCAST_PRODUCTION = '1';
    delete process.env.FUNNELCAST_EXPORT_SALT;
    try {
      await assert.rejects(env().run(buildSegments, input), (e: Error) => {
        assert.ok(e instanceof ApplicationFailure && e.nonRetryable, `non-retryable, got ${e}`);
        assert.match(e.message, /FUNNELCAST_EXPORT_SALT is not set/);
        return true;
      });
    } finally {
      delete process.env.FUNNELCAST_PRODUCTION;
    }
    assert.ok(!existsSync(join(paths.exportRoot(), 'crm', 'manifest.json')), 'nothing delivered');
  });

  it('the previous run: the latest with segments at an earlier cutoff, never one at the same cutoff', () => {
    const parent = tempDir('fc-prev-');
    const make = (id: string, segments: boolean) => {
      mkdirSync(join(parent, id), { recursive: true });
      if (segments) writeFileSync(join(parent, id, 'segments.parquet'), 'x');
    };
    make('p-20240301T000000Z-aaaa', true);
    make('p-20240308T000000Z-bbbb', true);
    make('p-20240310T000000Z-cccc', false); // no segments: not a previous run
    make('p-20240315T000000Z-dddd', true); // same cutoff as mine: another definition, not "previous"
    assert.equal(previousRunDir(join(parent, 'p-20240315T000000Z-eeee')), join(parent, 'p-20240308T000000Z-bbbb'));
    assert.equal(previousRunDir(join(parent, 'p-20240301T000000Z-ffff')), undefined);
  });
});
