import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateEventLines, type GeneratorOptions } from '../../../data/generator';
import { parseEffects, type TruthRow } from '../../../data/campaign-sim';
import { isControl } from '../../../lift/assignment';

const base: GeneratorOptions = { users: 3000, seed: 7, days: 120, engagement: 4 };
const campaign = {
  name: 'promo',
  at: '2024-03-01T00:00:00Z',
  windowDays: 30,
  controlShare: 0.3,
  salt: '',
  effects: { A: 0.2, B: 0, C: -0.5 },
};

function byUser(lines: Iterable<string>): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const l of lines) {
    const u = l.split(',')[0];
    m.set(u, [...(m.get(u) ?? []), l]);
  }
  return m;
}

const boughtInWindow = (ls: string[]) =>
  ls.some((l) => {
    const [, ts, event] = l.split(',');
    return event === 'transaction' && ts >= '2024-03-01' && ts < '2024-03-31';
  });

describe('generator ground truth for campaigns', () => {
  it('applies each segment its effect to treatment users only, and the truth file says what happened', () => {
    const truth: TruthRow[] = [];
    const plain = byUser(generateEventLines(base));
    const withCampaign = byUser(generateEventLines({ ...base, campaign, onTruth: (t) => truth.push(t) }));
    assert.equal(truth.length, base.users);
    let changed = 0;
    for (const t of truth) {
      const before = plain.get(t.user) ?? [];
      const after = withCampaign.get(t.user) ?? [];
      // Both potential outcomes; what the events show is y1 for treatment users and y0 for the control group.
      assert.equal(Number(boughtInWindow(before)), t.y0, t.user);
      assert.equal(Number(boughtInWindow(after)), t.arm === 'treatment' ? t.y1 : t.y0, t.user);
      assert.equal(t.arm === 'control', isControl(0.3, '', 'promo', t.user), 'the arm is funnelcast’s assignment');
      if (t.segment === 'B' || t.arm === 'control') assert.deepEqual(after, before, 'no effect, same events');
      if (t.segment === 'A') assert.ok(t.y1 >= t.y0);
      if (t.segment === 'C') assert.ok(t.y1 <= t.y0);
      if (JSON.stringify(after) !== JSON.stringify(before)) changed++;
    }
    assert.ok(changed > 50, `the campaign changed ${changed} users`);
    // The true lift per segment is near its set effect scaled by who could move (non-buyers up, buyers down).
    const lift = (s: string) => {
      const rows = truth.filter((t) => t.segment === s);
      return rows.reduce((a, t) => a + t.y1 - t.y0, 0) / rows.length;
    };
    const rate0 = (s: string) => truth.filter((t) => t.segment === s && t.y0).length / truth.length;
    assert.ok(Math.abs(lift('A') - 0.2 * (1 - 3 * rate0('A'))) < 0.04, `A ${lift('A')}`);
    assert.equal(lift('B'), 0);
    assert.ok(lift('C') < 0, `C ${lift('C')}`);
  });

  it('reads effects as <segment>=<number> and refuses anything else', () => {
    assert.deepEqual(parseEffects('A=0.1, B=0,C=-0.05'), { A: 0.1, B: 0, C: -0.05 });
    assert.throws(() => parseEffects('A:0.1'), /is not <segment>=<number>/);
    assert.throws(() => parseEffects('A=2'), /from -1 to 1/);
  });
});
