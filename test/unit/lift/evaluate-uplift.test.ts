import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateEventLines } from '../../../data/generator';
import type { TruthRow } from '../../../data/campaign-sim';
import { evaluateCommand } from '../../../cli/evaluate';
import { output } from '../../../cli/format';

/** A past randomised campaign as a table: behaviour before the send, segment, who got it, who converted. */
function experimentCsv(users: number): string {
  const at = '2024-03-01T00:00:00Z';
  const truth: TruthRow[] = [];
  const campaign = {
    name: 'promo',
    at,
    windowDays: 30,
    controlShare: 0.5,
    salt: '',
    effects: { A: 0.2, B: 0, C: -0.8 },
  };
  const f = new Map<string, number[]>();
  for (const line of generateEventLines({
    users,
    seed: 9,
    days: 100,
    engagement: 4,
    campaign,
    onTruth: (t) => truth.push(t),
  })) {
    const [u, ts, event] = line.split(',');
    if (ts >= at) continue;
    const v = f.get(u) ?? [0, 0, 0];
    v[event === 'view' ? 0 : event === 'addtocart' ? 1 : 2]++;
    f.set(u, v);
  }
  const rows = truth.map((t) => {
    const [views, carts, buys] = f.get(t.user) ?? [0, 0, 0];
    const got = t.arm === 'treatment' ? 'email' : 'none';
    return `${t.user},${views},${carts},${buys},${t.segment},${got},${t.arm === 'treatment' ? t.y1 : t.y0}`;
  });
  const file = join(mkdtempSync(join(tmpdir(), 'fc-uplift-eval-')), 'experiment.csv');
  writeFileSync(file, ['customer_id,views,carts,buys,segment,offer,converted', ...rows, ''].join('\n'));
  return file;
}

describe('funnelcast evaluate --uplift', { timeout: 300_000 }, () => {
  it('cross-validates the uplift models against the propensity ranking on a past experiment', async () => {
    const file = experimentCsv(8000);
    let out = '';
    const write = output.write;
    output.write = (s: string) => void (out += s);
    try {
      const code = await evaluateCommand([
        '--uplift',
        '--data',
        file,
        '--treatment',
        'offer',
        '--control',
        'none',
        '--label',
        'converted',
        '--folds',
        '3',
        '--json',
      ]);
      assert.equal(code, 0);
    } finally {
      output.write = write;
    }
    const r = JSON.parse(out) as {
      rows: number;
      treated: number;
      features: string[];
      folds: { fold: number; model: string; qini: number }[];
      summary: { model: string; qini: { mean: number }; auuc: { mean: number } }[];
    };
    assert.equal(r.rows, 8000);
    assert.ok(Math.abs(r.treated / r.rows - 0.5) < 0.03);
    assert.ok(
      !r.features.includes('offer') && !r.features.includes('customer_id'),
      'treatment and id are not features',
    );
    assert.equal(r.folds.length, 9, 'three models per fold');
    const q = Object.fromEntries(r.summary.map((s) => [s.model, s.qini.mean]));
    assert.ok(q.t_learner > q.propensity && q.class_transformation > q.propensity, JSON.stringify(q));
  });

  it('refuses a treatment column it cannot read without --control', async () => {
    const file = experimentCsv(300);
    await assert.rejects(
      evaluateCommand(['--uplift', '--data', file, '--treatment', 'offer', '--label', 'converted']),
      /rows are neither 1\/true\/yes\/treatment nor 0\/false\/no\/control; name the control value with --control/,
    );
  });
});
