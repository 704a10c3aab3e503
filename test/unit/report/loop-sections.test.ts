/**
 * The report's closing-the-loop sections: targeting backtests (realised vs expected vs a random list of the same
 * size, lift over random, realised ÷ expected), lift over time on a date axis, uplift models with their
 * predictions labelled as such, and the next best action per segment with its evidence.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { liftOverTimeChart, liftSection } from '../../../report/lift';
import { decide } from '../../../lift/action-tree';
import { campaignSpec } from '../../../pipelines/schema/segments';

const backtest = { realisedRate: 0.2, randomRate: 0.05, liftOverRandom: 4, realisedOverExpected: 0.8 };

describe('report: backtests, lift over time, uplift, next best action', () => {
  it('shows each list beside its expectation and a random list of the same size', () => {
    const html = liftSection({
      measured: [],
      unmeasured: [],
      backtests: [{ campaign: 'likely_buyers', rows: 500, expected: 125, realised: 100, backtest }],
    });
    assert.match(html, /Backtests of targeting/);
    // random list: 5 % of 500 = 25 conversions; lift over random 4×; realised ÷ expected 0.8.
    assert.match(
      html,
      /<td>likely_buyers<\/td><td>500<\/td><td>125.0<\/td><td>100<\/td><td>25.0<\/td><td>20.00 %<\/td><td>5.00 %<\/td><td>4.000×<\/td><td>0.800<\/td>/,
    );
    assert.equal((html.match(/<rect /g) ?? []).length, 3 + 3, 'three bars and three legend swatches');
  });

  it('draws each send at its date, one colour per campaign, with its interval', () => {
    const svg = liftOverTimeChart([
      { campaign: 'promo', cutoff: '2024-03-01 00:00:00', lift: 0.02, low: 0.01, high: 0.03 },
      { campaign: 'banner', cutoff: '2024-03-01 00:00:00', lift: -0.01, low: -0.02, high: 0.0 },
      { campaign: 'promo', cutoff: '2024-04-01 00:00:00', lift: 0.04, low: 0.02, high: 0.06 },
    ]);
    assert.equal((svg.match(/<circle /g) ?? []).length, 3);
    assert.match(svg, />2024-03-01<\/text>.*>2024-04-01<\/text>/);
    const x = [...svg.matchAll(/<circle cx="([\d.]+)"/g)].map((m) => Number(m[1]));
    assert.ok(x[1] - x[0] > 300, "promo's two sends, a month apart on the time axis");
  });

  it('labels uplift figures before send as predictions and lists the evidence per segment', () => {
    const html = liftSection({
      measured: [],
      unmeasured: [],
      uplift: {
        path: 'u.parquet',
        reportPath: 'u.json',
        campaigns: [
          {
            campaign: 'promo',
            model: 't_learner',
            sends: [{ runId: 'r1', cutoff: '2024-04-01T00:00:00.000Z', treatment: 900, control: 100 }],
            trainUsers: 700,
            holdout: { users: 300, treated: 270, qini: 0.35, auuc: 0.12, upliftAt30: 0.3 },
            propensityHoldout: { users: 300, treated: 270, qini: 0.01, auuc: 0.0, upliftAt30: 0.1 },
            revenuePerConversion: 40,
            scored: 2000,
            meanUplift: 0.05,
          },
        ],
        forecast: [
          {
            campaign: 'promo',
            predicted: true,
            note: 'predicted by the uplift model before the send',
            delivered: 400,
            incrementalConversions: 20,
            incrementalRevenue: 800,
            cost: 100,
            currency: 'EUR',
            roi: { value: 7 },
            cac: { value: 5 },
          },
        ],
      },
      nextBestAction: {
        path: 'n.json',
        sends: [],
        features: ['attr_segment_a'],
        method: 'a tree',
        segments: [
          {
            conditions: [{ feature: 'attr_segment_a', op: 'gt', value: 0 }],
            segment: 'segment a: yes',
            users: 2000,
            actions: [
              {
                campaign: 'promo',
                action: 'send',
                treatment: 500,
                control: 500,
                lift: { estimate: 0.2, low: 0.15, high: 0.25 },
              },
            ],
            best: { campaign: 'promo', action: 'send' },
            reason: 'promo lifts conversion',
          },
        ],
      },
    });
    assert.match(html, /Uplift targeting/);
    assert.match(html, /<td>0.350<\/td>.*propensity ranking.*<td>0.010<\/td>/s);
    assert.match(
      html,
      /Before the send \(predictions, not measurements\).*<b>predicted<\/b> for the 400 delivered users: \+20.0 incremental conversions, revenue \+800.00 EUR, cost 100.00 EUR, ROI \+700.0 %, CAC 5.00 EUR/s,
    );
    assert.match(
      html,
      /Next best action per segment.*segment a: yes.*promo: send.*promo \+20.00 pts \[\+15.00 pts, \+25.00 pts\] \(1000 users\)/s,
    );
  });

  it('says "not enough evidence" when the best interval is not clear of 0 or of another action', () => {
    const a = (campaign: string, estimate: number, low: number, high: number) => ({
      campaign,
      action: campaign,
      treatment: 100,
      control: 100,
      lift: { estimate, low, high },
    });
    assert.equal(decide([a('x', 0.1, 0.05, 0.15), a('y', 0.0, -0.05, 0.04)]).best?.campaign, 'x');
    assert.match(
      decide([a('x', 0.1, 0.05, 0.15), a('y', 0.08, 0.03, 0.13)]).reason,
      /not enough evidence: the intervals of x .* and y .* overlap/,
    );
    assert.match(decide([a('x', 0.02, -0.01, 0.05)]).reason, /not enough evidence: no action's lift is above 0/);
  });

  it('accepts rankBy "uplift" in a campaign definition', () => {
    const c = campaignSpec.parse({
      name: 'promo',
      filter: { field: 'propensity_decile', op: 'lte', value: 3 },
      rankBy: 'uplift',
    });
    assert.equal(c.rankBy, 'uplift');
  });
});
