import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { modelsCommand } from '../../../cli/models';
import { runCli } from '../../helpers/cli';
import { ModelRegistry } from '../../../registry';
import { paths } from '../../../infra/paths';
import { tempDir } from '../../helpers/warehouse';

const run = (args: string[]) => runCli(modelsCommand, args);

describe('funnelcast models', () => {
  it('lists, shows, promotes, rolls back and verifies versions of the registry named by FUNNELCAST_REGISTRY', async () => {
    process.env.FUNNELCAST_REGISTRY = tempDir('fc-models-');
    const reg = new ModelRegistry(paths.registry('sample'));
    const src = tempDir();
    for (const [i, auc] of [0.8, 0.85].entries()) {
      const f = join(src, `m${i}.json`);
      writeFileSync(f, JSON.stringify({ i }));
      await reg.publish({
        runId: `sample-r${i}`,
        files: [{ name: 'model.json', from: f }],
        info: {
          engine: 'forest',
          primaryMetric: 'roc_auc',
          metrics: { holdout: { roc_auc: auc } },
          lineage: { cutoff: `2024-0${i + 1}-01` },
          params: {},
          featureNames: ['a'],
        },
        primaryValue: auc,
        cutoff: `2024-0${i + 1}-01T00:00:00.000Z`,
        champion: i ? { kind: 'same-rows', version: reg.champion()!.version, value: 0.8 } : { kind: 'none' },
        tolerance: 0,
      });
    }
    const list = JSON.parse((await run(['list', '--pipeline', 'sample', '--json'])).out);
    assert.deepEqual(
      list.versions.map((v: { version: string }) => v.version),
      ['v0001-sample-r0', 'v0002-sample-r1'],
    );
    assert.equal(list.champion.version, 'v0002-sample-r1');
    assert.deepEqual(
      list.versions.map((v: { kind: string; cutoff: string }) => [v.kind, v.cutoff]),
      [
        ['live', '2024-01-01'],
        ['live', '2024-02-01'],
      ],
    );
    assert.match((await run(['list', '--pipeline', 'sample'])).out, /kind\s+cutoff\s+engine\s+metric/);
    const show = await run(['show', 'v0001', '--pipeline', 'sample']);
    assert.match(show.out, /v0001-sample-r0: forest/);
    // No champion measured on its rows at publish: nothing shown beside it (other rows are not comparable).
    assert.match(show.out, /roc_auc\s+0\.800\s+—/);
    assert.equal((await run(['rollback', '--pipeline', 'sample'])).code, 0);
    assert.equal(reg.champion()!.version, 'v0001-sample-r0');
    assert.equal((await run(['promote', 'v0002', '--pipeline', 'sample'])).code, 0);
    assert.equal(reg.champion()!.version, 'v0002-sample-r1');
    assert.equal((await run(['verify', 'v0002', '--pipeline', 'sample'])).code, 0);
    const history = JSON.parse((await run(['history', '--pipeline', 'sample', '--json'])).out).history;
    assert.deepEqual(
      history.map((h: { action: string; version: string; by: string }) => [h.action, h.version, h.by]),
      [
        ['gate', 'v0001-sample-r0', 'sample-r0'],
        ['gate', 'v0002-sample-r1', 'sample-r1'],
        ['rollback', 'v0001-sample-r0', process.env.USER ?? userInfo().username],
        ['promote', 'v0002-sample-r1', process.env.USER ?? userInfo().username],
      ],
    );
    assert.match((await run(['history', '--pipeline', 'sample'])).out, /rollback\s+v0001-sample-r0\s+v0002-sample-r1/);
    assert.equal((await run(['show', 'v0009', '--pipeline', 'sample'])).code, 4, 'unknown version: exit 4');
    delete process.env.FUNNELCAST_REGISTRY;
  });
});
