/**
 * `funnelcast warehouse snapshot|restore` on the sample: extracted in one home, snapshotted to a store folder
 * (FUNNELCAST_STORE=file://…), restored into another home with the same events and quarantine; a second restore
 * over the existing file is refused.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { paths } from '../../../infra/paths';
import { extractCommand } from '../../../cli/extract';
import { warehouseCommand } from '../../../cli/warehouse';
import { withDuckDB } from '../../../warehouse/db';
import { runCli } from '../../helpers/cli';
import { scalar, tempDir } from '../../helpers/warehouse';

const counts = (db: string) =>
  withDuckDB(db, async (conn) => ({
    events: await scalar(conn, 'SELECT count(*) FROM events'),
    quarantine: await scalar(conn, 'SELECT count(*) FROM quarantine'),
  }));

describe('funnelcast warehouse snapshot / restore', { timeout: 180_000 }, () => {
  it('moves the sample warehouse to another home through the store', async () => {
    process.env.FUNNELCAST_STORE = pathToFileURL(tempDir('fc-store-')).href;
    try {
      process.env.FUNNELCAST_HOME = tempDir('fc-h1-');
      assert.equal((await runCli(extractCommand, ['--pipeline', 'sample'])).code, 0);
      const before = await counts(paths.warehouse('sample'));
      const snap = await runCli(warehouseCommand, ['snapshot', '--pipeline', 'sample']);
      assert.equal(snap.code, 0);
      assert.match(snap.out, /Snapshot of .*sample\.duckdb written to file:\/\/.*warehouse\/sample\/snapshots\//);

      process.env.FUNNELCAST_HOME = tempDir('fc-h2-');
      const restored = await runCli(warehouseCommand, ['restore', '--pipeline', 'sample']);
      assert.equal(restored.code, 0, restored.out);
      assert.ok(before.events > 1000);
      assert.deepEqual(await counts(paths.warehouse('sample')), before);
      await assert.rejects(runCli(warehouseCommand, ['restore', '--pipeline', 'sample']), /exists/);
    } finally {
      delete process.env.FUNNELCAST_STORE;
    }
  });
});
