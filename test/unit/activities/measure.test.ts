/**
 * The measurement activity as an adapter (MockActivityEnvironment, real DuckDB, local store) on a tiny pipeline
 * whose earlier runs delivered lists through the real features, train, publish, score and segments activities:
 * a later run measures every earlier send whose window has passed (lift with its interval for a list with a
 * control group, "no_control" for one without), writes measurement.json next to the send's exports, keeps a send
 * whose window is still open "pending" and measures it again next time, and never measures a finished send twice.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { measureCampaigns } from '../../../activities/measure';
import { buildSegments } from '../../../activities/segments';
import { scoreUsers, type ScoreResult } from '../../../activities/score';
import {
  env,
  features,
  runDirOf,
  tinyPipeline,
  trainHoldout,
  type TinyPipeline,
  publish,
} from '../../helpers/tiny-pipeline';
import type { MeasuredCampaignRef, PublishResult } from '../../../workflows/types';

const everyone = { field: 'propensity_decile', op: 'lte', value: 10 } as const;
const extra = {
  campaigns: [
    { name: 'held', filter: everyone, action: 'send', control: { share: 0.5 } },
    { name: 'all', filter: everyone, action: 'send', control: { share: 0 } },
  ],
};

/** A run at `cutoff` that scored with `version` and delivered its lists. */
async function send(p: TinyPipeline, runId: string, cutoff: string, pub: PublishResult) {
  const runDir = runDirOf(p, runId);
  const f = await features(p, runDir, cutoff);
  const s: ScoreResult = await env().run(scoreUsers, {
    loaded: p.loaded,
    runDir,
    features: f,
    versionDir: pub.scoreWith.versionDir,
    version: pub.scoreWith.version,
  });
  await env().run(buildSegments, {
    loaded: p.loaded,
    runId,
    cutoff,
    runDir,
    featuresPath: f.featuresPath,
    scoresPath: s.scoresPath,
    reasonsPath: s.reasonsPath,
    modelVersion: s.modelVersion,
  });
  return runDir;
}

describe('measureCampaigns (activity)', () => {
  it('measures past sends once, keeps open windows pending, and says why a list without control is not measured', async () => {
    const p = await tinyPipeline('measact', { users: 1200, extra });
    const sent = 'measact-20240215T000000Z-aaaa';
    const cutoff = '2024-02-15T00:00:00.000Z';
    const dir = runDirOf(p, sent);
    const f = await features(p, dir, cutoff);
    const pub: PublishResult = await publish(
      p,
      { runId: sent, cutoff, trainingCutoff: cutoff, runDir: dir },
      f,
      await trainHoldout(p, dir, f),
    );
    const past = await send(p, sent, cutoff, pub);
    const open = 'measact-20240420T000000Z-bbbb';
    await send(p, open, '2024-04-20T00:00:00.000Z', pub);

    const now = runDirOf(p, 'measact-20240430T000000Z-cccc');
    const first: MeasuredCampaignRef[] = await env().run(measureCampaigns, { loaded: p.loaded, runDir: now });
    const by = (m: MeasuredCampaignRef[]) => Object.fromEntries(m.map((c) => [`${c.runId}/${c.campaign}`, c]));
    const got = by(first);
    assert.deepEqual(Object.keys(got).sort(), [`${sent}/all`, `${sent}/held`, `${open}/all`, `${open}/held`]);
    const held = got[`${sent}/held`]!;
    assert.equal(held.status, 'measured', held.reason ?? '');
    assert.ok(
      held.lift && held.lift.low <= held.lift.estimate && held.lift.estimate <= held.lift.high,
      JSON.stringify(held),
    );
    assert.equal(held.measurementPath, join(past, 'exports', 'measurement.json'));
    assert.ok(existsSync(held.measurementPath));
    assert.equal(JSON.parse(readFileSync(held.measurementPath, 'utf8')).cutoff, cutoff);
    assert.equal(got[`${sent}/all`]!.status, 'no_control');
    assert.equal(got[`${sent}/all`]!.lift, null);
    assert.equal(got[`${open}/held`]!.status, 'pending', 'its 30-day window is not in the data yet');

    // Again: the finished send is not measured twice; the pending one is measured again.
    const second: MeasuredCampaignRef[] = await env().run(measureCampaigns, { loaded: p.loaded, runDir: now });
    assert.deepEqual([...new Set(second.map((c) => c.runId))], [open]);

    // A run at the earliest cutoff has nothing earlier to measure.
    assert.deepEqual(
      await env().run(measureCampaigns, { loaded: p.loaded, runDir: runDirOf(p, 'measact-20240101T000000Z-dddd') }),
      [],
    );
  });
});
