/**
 * FUNNELCAST_DATA_ROOT (issue 18, item 7): a definition cannot read sources outside the data root, neither by path
 * nor through a symbolic link nor through a glob that matches a link; production mode turns the check on with the
 * definition's folder as the root.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { loadPipeline } from '../../../pipelines/load';
import { tempDir } from '../../helpers/warehouse';

function definition(dir: string, path: string, name = 'rooted'): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      name,
      sources: { events: { path, columns: { user_id: 'u', ts: 't', event: 'e' } } },
      label: { event: 'buy' },
    }),
  );
  return file;
}

describe('the data root', () => {
  afterEach(() => {
    delete process.env.FUNNELCAST_DATA_ROOT;
    delete process.env.FUNNELCAST_PRODUCTION;
  });

  it('keeps every source path of a definition inside FUNNELCAST_DATA_ROOT, links and globs included', () => {
    const root = tempDir('fc-data-root-');
    const outside = tempDir('fc-outside-');
    writeFileSync(join(outside, 'secret.csv'), 'u,t,e\n');
    mkdirSync(join(root, 'data'));
    writeFileSync(join(root, 'data', 'events.csv'), 'u,t,e\n');
    process.env.FUNNELCAST_DATA_ROOT = root;

    assert.equal(loadPipeline(definition(root, 'data/events.csv')).definition.name, 'rooted');
    assert.equal(loadPipeline(definition(root, 'data/*.csv')).definition.name, 'rooted');
    for (const bad of [relative(root, join(outside, 'secret.csv')), join(outside, 'secret.csv'), '/etc/passwd'])
      assert.throws(() => loadPipeline(definition(root, bad)), /outside the data root/, bad);

    // A link inside the root that points out of it, named directly or matched by a glob.
    symlinkSync(join(outside, 'secret.csv'), join(root, 'data', 'link.csv'));
    assert.throws(
      () => loadPipeline(definition(root, 'data/link.csv')),
      new RegExp(`"data/link.csv" reads ${join(outside, 'secret.csv')}, outside the data root`),
    );
    assert.throws(() => loadPipeline(definition(root, 'data/*.csv')), /outside the data root/);
    assert.equal(loadPipeline(definition(root, 'data/e*.csv')).definition.name, 'rooted', 'the glob misses the link');
    symlinkSync(outside, join(root, 'linked-dir'));
    assert.throws(() => loadPipeline(definition(root, 'linked-dir/*.csv')), /outside the data root/);
  });

  it('is on in production mode with the definition folder as root, and off by default in development', () => {
    const dir = tempDir('fc-prod-');
    const outside = tempDir('fc-outside-');
    writeFileSync(join(outside, 'events.csv'), 'u,t,e\n');
    const file = definition(dir, join(outside, 'events.csv'));
    assert.equal(loadPipeline(file).definition.name, 'rooted', 'development: any readable path');
    process.env.FUNNELCAST_PRODUCTION = '1';
    assert.throws(() => loadPipeline(file), /outside the data root .*defaults to the definition folder/);
    process.env.FUNNELCAST_DATA_ROOT = outside;
    assert.equal(loadPipeline(file).definition.name, 'rooted', 'an explicit root wins');
  });
});
