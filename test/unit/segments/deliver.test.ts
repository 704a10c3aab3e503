import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deliverExports, resolveDestination } from '../../../segments/deliver';
import { parsePipeline } from '../../../pipelines/load';
import { tempDir } from '../../helpers/warehouse';

const minimal = {
  name: 'p',
  sources: { events: { path: 'e.csv', columns: { user_id: 'u', ts: 't', event: 'e' } } },
  label: { event: 'buy' },
};

describe('delivery of campaign lists', () => {
  it('refuses destinations outside the export root, in the definition and again when resolving', () => {
    for (const destination of ['../up', '/etc', 'a/../../b', 'a/./b', '$(rm -rf)', 'A', 'a;b', 'a//b', ''])
      assert.throws(
        () => parsePipeline({ ...minimal, export: { destination } }),
        /export\.destination/,
        JSON.stringify(destination),
      );
    assert.equal(parsePipeline({ ...minimal, export: { destination: 'crm/weekly' } }).export.destination, 'crm/weekly');
    const root = tempDir('fc-root-');
    assert.equal(resolveDestination(root, 'crm/weekly'), join(root, 'crm', 'weekly'));
    for (const bad of ['../x', '/tmp/x', '.', 'a/../..'])
      assert.throws(() => resolveDestination(root, bad), /outside the export root/, bad);
  });

  it('copies the lists and manifest, and never replaces a newer cutoff with an older one', () => {
    const root = tempDir('fc-root-');
    const src = tempDir('fc-src-');
    const write = (name: string, body: string) => {
      writeFileSync(join(src, name), body);
      return join(src, name);
    };
    const run = (cutoff: string, rows: string) =>
      deliverExports({
        root,
        destination: 'crm',
        cutoff,
        files: [write('win_back.csv', rows)],
        manifestPath: write('manifest.json', JSON.stringify({ cutoff })),
      });
    const first = run('2024-04-30T00:00:00.000Z', 'user_id\nu1\n');
    assert.deepEqual(first, { dir: join(root, 'crm'), delivered: true });
    assert.equal(readFileSync(join(root, 'crm', 'win_back.csv'), 'utf8'), 'user_id\nu1\n');
    const older = run('2024-03-31T00:00:00.000Z', 'user_id\nold\n');
    assert.equal(older.delivered, false);
    assert.match(older.reason!, /newer cutoff \(2024-04-30T00:00:00.000Z\)/);
    assert.equal(readFileSync(join(root, 'crm', 'win_back.csv'), 'utf8'), 'user_id\nu1\n', 'untouched');
    const newer = run('2024-05-31T00:00:00.000Z', 'user_id\nu2\n');
    assert.equal(newer.delivered, true);
    assert.equal(readFileSync(join(root, 'crm', 'win_back.csv'), 'utf8'), 'user_id\nu2\n');
  });

  it('refuses a destination that leaves the export root through a symbolic link, and writes nothing there', () => {
    const root = tempDir('fc-root-');
    const elsewhere = tempDir('fc-elsewhere-');
    mkdirSync(join(root, 'crm'));
    symlinkSync(elsewhere, join(root, 'evil'));
    symlinkSync(join(root, 'crm'), join(root, 'alias'));
    symlinkSync(join(elsewhere, 'missing'), join(root, 'dangling'));
    const src = tempDir('fc-src-');
    writeFileSync(join(src, 'win_back.csv'), 'user_id\nu1\n');
    writeFileSync(join(src, 'manifest.json'), JSON.stringify({ cutoff: '2024-04-30T00:00:00.000Z' }));
    const deliver = (destination: string) =>
      deliverExports({
        root,
        destination,
        cutoff: '2024-04-30T00:00:00.000Z',
        files: [join(src, 'win_back.csv')],
        manifestPath: join(src, 'manifest.json'),
      });
    for (const bad of ['evil', 'evil/sub', 'dangling'])
      assert.throws(() => deliver(bad), /outside the export root/, bad);
    assert.deepEqual(readdirSync(elsewhere), [], 'nothing written outside the root');
    // A link that stays inside the root is fine, and so is a root that is itself a link.
    assert.equal(deliver('alias').delivered, true);
    assert.equal(readFileSync(join(root, 'crm', 'win_back.csv'), 'utf8'), 'user_id\nu1\n');
    const linkedRoot = join(tempDir('fc-link-'), 'exports');
    symlinkSync(root, linkedRoot);
    assert.equal(resolveDestination(linkedRoot, 'crm'), join(linkedRoot, 'crm'));
    assert.throws(() => resolveDestination(linkedRoot, 'evil'), /through a symbolic link/);
  });
});
