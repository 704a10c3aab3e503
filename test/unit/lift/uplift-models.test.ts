/**
 * Uplift models on the generator's ground truth: a campaign that helps segment A, does nothing for B and hurts C's
 * buyers. Ranking held-out users by predicted uplift must beat ranking them by propensity (what lists do today)
 * on the Qini coefficient, since the likeliest buyers include the ones the campaign puts off.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateEventLines } from '../../../data/generator';
import type { TruthRow } from '../../../data/campaign-sim';
import { RandomForest } from '../../../ml/forest';
import { selectLabels, selectRows, type FeatureMatrix } from '../../../ml/classifier';
import { fitUplift, type UpliftData } from '../../../lift/uplift-models';
import { qiniCoefficient, upliftAtK } from '../../../lift/uplift-metrics';

const AT = '2024-03-01T00:00:00Z';

/** Per user: behaviour before the send (views, carts, purchases, days since last event) and the segment's code. */
function generatedCampaign(users: number): UpliftData {
  const truth: TruthRow[] = [];
  const campaign = {
    name: 'promo',
    at: AT,
    windowDays: 30,
    controlShare: 0.5,
    salt: '',
    effects: { A: 0.2, B: 0, C: -0.8 },
  };
  const feats = new Map<string, number[]>();
  for (const line of generateEventLines({
    users,
    seed: 5,
    days: 100,
    engagement: 4,
    campaign,
    onTruth: (t) => truth.push(t),
  })) {
    const [u, ts, event] = line.split(',');
    if (ts >= AT) continue;
    const f = feats.get(u) ?? [0, 0, 0, Infinity];
    f[event === 'view' ? 0 : event === 'addtocart' ? 1 : 2]++;
    f[3] = Math.min(f[3], (Date.parse(AT) - Date.parse(ts)) / 86_400_000);
    feats.set(u, f);
  }
  const rows = truth.map((t) => [...(feats.get(t.user) ?? [0, 0, 0, NaN]), 'ABC'.indexOf(t.segment)]);
  const names = ['views', 'carts', 'purchases', 'days_since_last', 'segment'];
  const x: FeatureMatrix = {
    nRows: rows.length,
    names,
    columns: names.map((_, j) => Float32Array.from(rows, (r) => (Number.isFinite(r[j]) ? r[j] : NaN))),
  };
  const t = Uint8Array.from(truth, (r) => (r.arm === 'treatment' ? 1 : 0));
  // What was observed: the outcome with the campaign for the treated, without it for the controls.
  const y = Uint8Array.from(truth, (r) => (r.arm === 'treatment' ? r.y1 : r.y0));
  return { x, y, t };
}

describe('uplift models on generated campaigns', { timeout: 300_000 }, () => {
  it('rank held-out users better than propensity does (Qini coefficient, uplift@30 %)', async () => {
    const d = generatedCampaign(12_000);
    const idx = Array.from({ length: d.x.nRows }, (_, i) => i);
    const train = idx.filter((i) => i % 2 === 0);
    const test = idx.filter((i) => i % 2 === 1);
    const part = (rows: number[]): UpliftData => ({
      x: selectRows(d.x, rows),
      y: selectLabels(d.y, rows),
      t: selectLabels(d.t, rows),
    });
    const [tr, te] = [part(train), part(test)];
    const params = { nTrees: 40, maxDepth: 6, minSamplesLeaf: 20 };
    // The propensity ranking lists use today: the chance of buying without the campaign, learnt from the controls
    // (trained on both arms it would absorb part of the campaign's effect, which no list has before a send).
    const controls = Array.from(tr.t.keys()).filter((i) => tr.t[i] === 0);
    const propensity = new RandomForest(params, 3, 1);
    await propensity.fit(selectRows(tr.x, controls), selectLabels(tr.y, controls));
    const byPropensity = propensity.predictProba(te.x);
    const qiniPropensity = qiniCoefficient(te.y, te.t, byPropensity);
    for (const kind of ['t_learner', 'class_transformation'] as const) {
      const score = (await fitUplift(kind, tr, params, 3))(te.x);
      const qini = qiniCoefficient(te.y, te.t, score);
      assert.ok(qini > qiniPropensity + 0.05, `${kind}: Qini ${qini} vs propensity ${qiniPropensity}`);
      assert.ok(
        upliftAtK(te.y, te.t, score, 0.3) > upliftAtK(te.y, te.t, byPropensity, 0.3),
        `${kind}: uplift@30 % above propensity's`,
      );
    }
  });

  it('refuses data without both arms', async () => {
    const d = generatedCampaign(200);
    await assert.rejects(
      fitUplift('t_learner', { ...d, t: d.t.map(() => 1) }, {}, 1),
      /needs treated and control users/,
    );
  });
});
