/**
 * The uplift activities as adapters (MockActivityEnvironment, real DuckDB) on a measured send built by hand: two
 * campaigns sent to 6,000 users on 2024-04-01, half held out each, "promo" adding +40 pts of conversion in segment
 * a only and "banner" in segment b only. trainUplift must learn that (and beat the propensity ranking), refuse a
 * campaign ranked by uplift without a measured send as non-retryable bad input, forecastUplift must sum the
 * predicted uplift over the delivered users, and nextBestAction must name promo for a, banner for b, nothing for c.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { forecastUplift, nextBestAction, trainUplift } from '../../../activities/uplift';
import type { RunUplift } from '../../../lift/pipeline-uplift';
import type { UpliftForecast } from '../../../lift/forecast';
import type { NextBestActions } from '../../../lift/next-best-action';
import { writeJsonAtomic } from '../../../infra/atomic';
import { paths } from '../../../infra/paths';
import { withDuckDB } from '../../../warehouse/db';
import type { PipelineInput } from '../../../pipelines/schema';
import { inlinePipeline, scalar, tempDir } from '../../helpers/warehouse';

const SENT = 'upl-20240401T000000Z-aaaa';
const NOW = 'upl-20240520T000000Z-bbbb';
const N = 6000;
const env = () => new MockActivityEnvironment({ attempt: 1 }, { logger: new DefaultLogger('WARN') });
/** Segment a, b or c of user i, and a uniform draw per (user, k), as SQL over `i`. */
const SEG = `CASE i % 3 WHEN 0 THEN 'a' WHEN 1 THEN 'b' ELSE 'c' END`;
const U = (k: number) => `((hash(i * ${k} + ${k}) % 10000) / 10000.0)`;

function definition(name: string, promoRank: 'uplift' | 'propensity'): PipelineInput {
  const everyone = { field: 'propensity_decile', op: 'lte', value: 10 } as const;
  return {
    name,
    sources: { events: { path: 'e.csv', columns: { user_id: 'u', ts: 't', event: 'e' }, eventTypes: ['purchase'] } },
    label: { event: 'purchase', horizon: '30d' },
    segments: { deciles: '1-is-top' },
    campaigns: [
      {
        name: 'promo',
        filter: everyone,
        rankBy: promoRank,
        action: 'send the promotion',
        control: { share: 0.5 },
        economics: { currency: 'EUR', costPerContact: 0.1, fixedCost: 10, value: 20 },
      },
      { name: 'banner', filter: everyone, action: 'show the banner', control: { share: 0.5 } },
    ],
  };
}

/** The sent run's files, its measurement, and the warehouse's purchases in the window. */
async function measuredSend(): Promise<string> {
  process.env.FUNNELCAST_HOME = tempDir('fc-uplift-home-');
  const sent = paths.runDir('upl', SENT);
  const now = paths.runDir('upl', NOW);
  for (const d of [join(sent, 'features'), join(sent, 'assignments'), join(sent, 'exports'), join(now, 'features')])
    mkdirSync(d, { recursive: true });
  const features = `SELECT 'u' || i AS user_id, 0 AS label, CAST(${SEG} = 'a' AS DOUBLE) AS attr_segment_a,
      CAST(${SEG} = 'b' AS DOUBLE) AS attr_segment_b, ${U(7)} AS noise FROM range(${N}) t(i)`;
  const arm = (k: number) => `CASE WHEN ${U(k)} < 0.5 THEN 'control' ELSE 'treatment' END`;
  await withDuckDB(paths.warehouse('upl'), async (conn) => {
    await conn.run(`COPY (${features}) TO '${join(sent, 'features', 'features.parquet')}' (FORMAT parquet)`);
    await conn.run(`COPY (${features}) TO '${join(now, 'features', 'features.parquet')}' (FORMAT parquet)`);
    for (const [c, k] of [
      ['promo', 11],
      ['banner', 13],
    ] as const)
      await conn.run(
        `COPY (SELECT 'u' || i AS user_id, ${arm(k)} AS arm FROM range(${N}) t(i)) TO '${join(sent, 'assignments', `${c}.parquet`)}' (FORMAT parquet)`,
      );
    await conn.run(
      `COPY (SELECT 'u' || i AS user_id, ${U(17)} AS propensity FROM range(${N}) t(i)) TO '${join(sent, 'scores.parquet')}' (FORMAT parquet)`,
    );
    await conn.run(
      `COPY (SELECT 'u' || i AS user_id, 'Champions' AS rfm_segment, 'view' AS funnel_stage, 1 AS cluster, 1 + i % 10 AS propensity_decile
             FROM range(${N}) t(i)) TO '${join(sent, 'segments.parquet')}' (FORMAT parquet)`,
    );
    // Bought in the window: 10 % anyway, +40 pts with promo in segment a, +40 pts with the banner in segment b.
    await conn.run(
      `CREATE TABLE events AS SELECT 'u' || i AS user_id, TIMESTAMP '2024-04-10' AS ts, 'purchase' AS event, 20.0 AS revenue
       FROM range(${N}) t(i)
       WHERE ${U(19)} < 0.1 OR (${SEG} = 'a' AND ${arm(11)} = 'treatment' AND ${U(23)} < 0.4)
          OR (${SEG} = 'b' AND ${arm(13)} = 'treatment' AND ${U(29)} < 0.4)
       UNION ALL SELECT 'u0', TIMESTAMP '2024-05-25', 'purchase', 1.0`,
    );
  });
  const measured = (campaign: string, action: string) => ({
    campaign,
    action,
    status: 'measured',
    reason: null,
    window: { from: '2024-04-01T00:00:00.000Z', to: '2024-05-01T00:00:00.000Z', length: '30d' },
    result: {
      treatment: { users: N / 2 },
      control: { users: N / 2 },
      absoluteLift: { estimate: 0.1, low: 0.08, high: 0.12 },
    },
  });
  writeJsonAtomic(join(sent, 'exports', 'measurement.json'), {
    runId: SENT,
    pipeline: 'upl',
    cutoff: '2024-04-01T00:00:00.000Z',
    campaigns: [measured('promo', 'send the promotion'), measured('banner', 'show the banner')],
  });
  return now;
}

describe('uplift activities', () => {
  it('trains the uplift model of a campaign ranked by uplift from its measured send, and predicts before send', async () => {
    const runDir = await measuredSend();
    const loaded = inlinePipeline(definition('upl', 'uplift'), tempDir());
    const featuresPath = join(runDir, 'features', 'features.parquet');
    const u = (await env().run(trainUplift, { loaded, runId: NOW, runDir, featuresPath })) as RunUplift | null;
    assert.ok(u);
    const m = u.campaigns[0];
    assert.equal(m.campaign, 'promo');
    assert.deepEqual(
      m.sends.map((s) => s.runId),
      [SENT],
    );
    assert.ok(m.holdout.qini > m.propensityHoldout!.qini + 0.2, `${m.holdout.qini} vs ${m.propensityHoldout!.qini}`);
    await withDuckDB(':memory:', async (conn) => {
      const mean = (seg: string) =>
        scalar(
          conn,
          `SELECT avg(uplift) FROM read_parquet('${u.path}') u JOIN read_parquet('${featuresPath}') f USING (user_id)
           WHERE ${seg === 'a' ? 'attr_segment_a = 1' : 'attr_segment_a = 0'}`,
        );
      const [a, rest] = [await mean('a'), await mean('rest')];
      assert.ok(a > 0.3 && Math.abs(rest) < 0.05, `segment a ${a}, others ${rest}`);
      // The list as segments would deliver it: every other user treated.
      mkdirSync(join(runDir, 'assignments'), { recursive: true });
      await conn.run(
        `COPY (SELECT 'u' || i AS user_id, CASE WHEN i % 2 = 0 THEN 'treatment' ELSE 'control' END AS arm FROM range(${N}) t(i))
         TO '${join(runDir, 'assignments', 'promo.parquet')}' (FORMAT parquet)`,
      );
      const expected = await scalar(
        conn,
        `SELECT sum(uplift) FROM read_parquet('${u.path}') WHERE campaign = 'promo' AND CAST(substr(user_id, 2) AS INT) % 2 = 0`,
      );
      const [f] = (await env().run(forecastUplift, { loaded, runDir, uplift: u })) as UpliftForecast[];
      assert.equal(f.predicted, true);
      assert.match(f.note, /predicted .*\(not measured/);
      assert.equal(f.delivered, N / 2);
      assert.ok(Math.abs(f.incrementalConversions - expected) < 1e-6);
      assert.ok(Math.abs(f.incrementalRevenue! - 20 * expected) < 1e-6, 'economics.value prices each conversion');
      assert.equal(f.cost, 10 + 0.1 * (N / 2));
      assert.ok(Math.abs((f.roi.value as number) - (20 * expected - f.cost!) / f.cost!) < 1e-9);
      assert.ok(Math.abs((f.cac.value as number) - f.cost! / expected) < 1e-9);
    });
  });

  it('refuses rankBy "uplift" without a measured send as bad input that says what is needed', async () => {
    const runDir = await measuredSend();
    const loaded = inlinePipeline(definition('other', 'uplift'), tempDir());
    const featuresPath = join(runDir, 'features', 'features.parquet');
    const err = await env()
      .run(trainUplift, {
        loaded,
        runId: 'other-20240520T000000Z-cccc',
        runDir: join(tempDir(), 'other', 'x'),
        featuresPath,
      })
      .catch((e: unknown) => e);
    assert.ok(err instanceof ApplicationFailure && err.nonRetryable, String(err));
    assert.equal(err.type, 'InputError');
    assert.match(
      err.message,
      /campaigns\[0\] "promo": rankBy "uplift" needs at least one measured send of this campaign/,
    );
    assert.match(err.message, /control group \(control.share > 0, it is 0.5\).*window \(30d\)/);
    const plain = inlinePipeline(definition('upl', 'propensity'), tempDir());
    assert.equal(await env().run(trainUplift, { loaded: plain, runId: NOW, runDir, featuresPath }), null);
  });

  it('names the next best action per segment from the measured sends of two campaigns', async () => {
    const runDir = await measuredSend();
    const loaded = inlinePipeline(definition('upl', 'propensity'), tempDir());
    const n = (await env().run(nextBestAction, { loaded, runId: NOW, runDir })) as NextBestActions | null;
    assert.ok(n);
    const answer = (seg: 'a' | 'b' | 'c') => {
      const has = (f: string, yes: boolean) => (c: { feature: string; op: string }) =>
        c.feature === f && (c.op === 'gt') === yes;
      const leaves = n.segments.filter((l) => {
        const a = l.conditions.some(has('attr_segment_a', true));
        const notA = l.conditions.some(has('attr_segment_a', false));
        const b = l.conditions.some(has('attr_segment_b', true));
        const notB = l.conditions.some(has('attr_segment_b', false));
        return seg === 'a' ? a : seg === 'b' ? b : notA && notB;
      });
      return leaves.map((l) => l.best?.campaign ?? 'none');
    };
    const words = n.segments.map((l) => `${l.segment}: ${l.best?.campaign ?? l.reason}`).join(' | ');
    assert.deepEqual(answer('a'), ['promo'], words);
    assert.deepEqual(answer('b'), ['banner'], words);
    assert.deepEqual(answer('c'), ['none'], words);
    const c = n.segments.find((l) => !l.best)!;
    assert.match(c.reason, /not enough evidence: (no action's lift is above 0|the intervals of .* overlap)/);
    assert.equal(c.actions.length, 2);
    assert.ok(c.actions.every((a) => a.treatment > 500 && a.control > 500 && a.lift.high > a.lift.low));
    assert.equal(n.sends.length, 2);
  });
});
