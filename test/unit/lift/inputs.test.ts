import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePipeline } from '../../../pipelines/load';
import { measureCommand } from '../../../cli/measure';
import { exitCodeOf } from '../../../cli/failure';
import { EXIT } from '../../../cli/format';
import { liftSection } from '../../../report/lift';

const base = {
  name: 'econ',
  sources: { events: { path: 'x.csv', columns: { user_id: 'u', ts: 't', event: 'e' } } },
  label: { event: 'buy', horizon: '14d' },
  segments: { deciles: '1-is-top' },
};
const withCampaign = (extra: Record<string, unknown>) =>
  parsePipeline({
    ...base,
    campaigns: [{ name: 'c', filter: { field: 'propensity_decile', op: 'lte', value: 2 }, ...extra }],
  });

describe('campaign control groups and economics in the definition', () => {
  it('hold out 10 % by default, allow 0, and take costs, value, currency and the window', () => {
    assert.deepEqual(withCampaign({}).campaigns[0].control, { share: 0.1, salt: '' });
    assert.equal(withCampaign({ control: { share: 0 } }).campaigns[0].control.share, 0);
    const c = withCampaign({
      economics: { currency: 'EUR', costPerContact: 0.05 },
      measureWindow: '21d',
    }).campaigns[0];
    assert.deepEqual(c.economics, { currency: 'EUR', costPerContact: 0.05, fixedCost: 0, value: 'label_revenue' });
    assert.equal(c.measureWindow, '21d');
  });

  it('refuse negative costs, a missing or made-up currency and a share outside 0..0.9, saying which field', () => {
    assert.throws(
      () => withCampaign({ economics: { currency: 'EUR', costPerContact: -1 } }),
      /costPerContact must be a non-negative number/,
    );
    assert.throws(
      () => withCampaign({ economics: { currency: 'EUR', costPerContact: 1, fixedCost: 'ten' } }),
      /fixedCost must be a number/,
    );
    assert.throws(() => withCampaign({ economics: { costPerContact: 1 } }), /economics\.currency is required/);
    assert.throws(() => withCampaign({ economics: { currency: 'euro', costPerContact: 1 } }), /ISO 4217/);
    assert.throws(() => withCampaign({ control: { share: 1 } }), /control\.share must be from 0 to 0\.9/);
    assert.throws(() => withCampaign({ control: { share: -0.1 } }), /control\.share must be from 0 to 0\.9/);
  });
});

describe('funnelcast measure', () => {
  it('exits 4 for a run that does not exist and 3, naming the run, for one that exported no lists', async () => {
    process.env.FUNNELCAST_HOME = mkdtempSync(join(tmpdir(), 'fc-measure-'));
    const code = async (argv: string[]) => {
      try {
        return await measureCommand(argv);
      } catch (e) {
        return { code: exitCodeOf(e as Error), message: (e as Error).message };
      }
    };
    assert.deepEqual(await code(['--pipeline', 'sample', '--run', 'sample-nope']), {
      code: EXIT.notFound,
      message: `no run sample-nope of pipeline sample (no folder ${join(process.env.FUNNELCAST_HOME, 'runs', 'sample', 'sample-nope')})`,
    });
    const trainOnly = 'sample-20240430T000000Z-0123456789';
    mkdirSync(join(process.env.FUNNELCAST_HOME, 'runs', 'sample', trainOnly), { recursive: true });
    const r = (await code(['--pipeline', 'sample', '--run', trainOnly])) as { code: number; message: string };
    assert.equal(r.code, EXIT.badInput);
    assert.match(r.message, new RegExp(`run ${trainOnly} has no delivered campaign lists`));
  });
});

describe('report: measured campaigns', () => {
  it('draws each send with its interval around zero and lists those without a lift with the reason', () => {
    const html = liftSection({
      measured: [
        { campaign: 'promo', cutoff: '2024-04-01 00:00:00', lift: 0.04, low: 0.02, high: 0.06 },
        { campaign: 'promo', cutoff: '2024-05-01 00:00:00', lift: 0.01, low: -0.01, high: 0.03 },
      ],
      unmeasured: [{ runId: 'r2', campaign: 'banner', reason: 'no control group (control.share is 0)' }],
    });
    assert.match(html, /promo · 2024-04-01.*promo · 2024-05-01/s, 'oldest first');
    assert.match(html, /\+4\.00 pts \[\+2\.00 pts, \+6\.00 pts\]/);
    assert.equal((html.match(/#27ae60/g) ?? []).length, 2, 'the clear lift is green (whisker and point)');
    assert.equal((html.match(/#7f8c8d/g) ?? []).length, 2, 'the one whose interval contains 0 is grey');
    assert.match(html, /banner.*no control group/s);
    assert.equal(liftSection(null), '');
  });
});
