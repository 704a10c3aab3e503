import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
        championValue: i ? 0.8 : null,
        tolerance: 0,
      });
    }
    const list = JSON.parse((await run(['list', '--pipeline', 'sample', '--json'])).out);
    assert.deepEqual(
      list.versions.map((v: { version: string }) => v.version),
      ['v0001-sample-r0', 'v0002-sample-r1'],
    );
    assert.equal(list.champion.version, 'v0002-sample-r1');
    const show = await run(['show', 'v0001', '--pipeline', 'sample']);
    assert.match(show.out, /v0001-sample-r0: forest/);
    assert.match(show.out, /roc_auc\s+0\.800\s+0\.850/);
    assert.equal((await run(['rollback', '--pipeline', 'sample'])).code, 0);
    assert.equal(reg.champion()!.version, 'v0001-sample-r0');
    assert.equal((await run(['promote', 'v0002', '--pipeline', 'sample'])).code, 0);
    assert.equal(reg.champion()!.version, 'v0002-sample-r1');
    assert.equal((await run(['verify', 'v0002', '--pipeline', 'sample'])).code, 0);
    assert.equal((await run(['show', 'v0009', '--pipeline', 'sample'])).code, 4, 'unknown version: exit 4');
    delete process.env.FUNNELCAST_REGISTRY;
  });
});
