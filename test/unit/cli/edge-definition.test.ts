/**
 * Issue 19: a definition outside the home and the package (`funnelcast run --pipeline ./my.json`) travels by
 * content, not by this machine's path: its bytes under `definitions/<sha256>.json`, its relative sources' folder as a
 * key under FUNNELCAST_DATA_ROOT (or, without one, the absolute folder the warehouse worker must be able to read).
 * A worker with another home and another data root loads it from the key and reads the sources under its own root.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portableDefinition } from '../../../cli/edge';
import { loadDefinition } from '../../../activities/definition';
import { projectRoot } from '../../../infra/root';
import { loadPipeline } from '../../../pipelines/load';
import { sha256Hex, StoreBoundary } from '../../../store';

const saved = { ...process.env };
after(() => {
  process.env = saved;
});

/** A project folder outside every root: my.json beside its events, named relatively. */
function project(root: string): string {
  const dir = join(root, 'shop');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(projectRoot(), 'data', 'sample', 'events.csv.gz'), join(dir, 'events.csv.gz'));
  const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8')) as {
    name: string;
    sources: { events: { path: string; live?: unknown } };
  };
  def.name = 'shop';
  def.sources.events.path = 'events.csv.gz';
  delete def.sources.events.live;
  writeFileSync(join(dir, 'my.json'), JSON.stringify(def));
  return join(dir, 'my.json');
}

describe('a definition outside the home and the package travels by content', () => {
  it('puts its bytes under definitions/<sha256>.json and names its sources folder under the data root', async () => {
    const [home, data, home2, data2] = ['h', 'd', 'h2', 'd2'].map((n) => mkdtempSync(join(tmpdir(), `fc-def-${n}-`)));
    Object.assign(process.env, { FUNNELCAST_HOME: home, FUNNELCAST_DATA_ROOT: data });
    delete process.env.FUNNELCAST_STORE;
    const file = project(data!);
    const loaded = loadPipeline(file);
    const sent = await portableDefinition(loaded);
    assert.deepEqual(sent, { pipeline: `definitions/${loaded.hash}.json`, sourcesDir: 'data/shop' });
    const copy = join(home!, 'definitions', `${loaded.hash}.json`);
    assert.equal(sha256Hex(readFileSync(copy)), loaded.hash, 'the bytes as written, in this home (the local store)');

    // Another machine: its own home (the copy fetched there) and its own data root holding the same data.
    project(data2!);
    Object.assign(process.env, { FUNNELCAST_HOME: home2, FUNNELCAST_DATA_ROOT: data2 });
    mkdirSync(join(home2!, 'definitions'), { recursive: true });
    copyFileSync(copy, join(home2!, 'definitions', `${loaded.hash}.json`));
    const b = new StoreBoundary(null, null, home2!);
    const onWorker = await loadDefinition(b.resolve(sent));
    assert.equal(onWorker.baseDir, join(data2!, 'shop'));
    assert.equal(onWorker.hash, loaded.hash, 'the same definition, so the same lineage and run key');
    assert.deepEqual(onWorker.definition, loaded.definition);
    assert.deepEqual(b.keys({ file: onWorker.file, baseDir: onWorker.baseDir }), {
      file: `definitions/${loaded.hash}.json`,
      baseDir: 'data/shop',
    });
  });

  it('without a data root, the sources folder is sent as given; with only absolute sources, not at all', async () => {
    const [home, elsewhere] = ['h', 'x'].map((n) => mkdtempSync(join(tmpdir(), `fc-def-${n}-`)));
    Object.assign(process.env, { FUNNELCAST_HOME: home });
    delete process.env.FUNNELCAST_DATA_ROOT;
    const file = project(elsewhere!);
    const loaded = loadPipeline(file);
    assert.deepEqual(await portableDefinition(loaded), {
      pipeline: `definitions/${loaded.hash}.json`,
      sourcesDir: join(elsewhere!, 'shop'),
    });
    const def = JSON.parse(readFileSync(file, 'utf8')) as { sources: { events: { path: string } } };
    def.sources.events.path = join(elsewhere!, 'shop', 'events.csv.gz');
    writeFileSync(file, JSON.stringify(def));
    const absolute = loadPipeline(file);
    assert.deepEqual(await portableDefinition(absolute), { pipeline: `definitions/${absolute.hash}.json` });
  });

  it('a bundled definition travels as its package key', async () => {
    process.env.FUNNELCAST_HOME = mkdtempSync(join(tmpdir(), 'fc-def-h-'));
    assert.deepEqual(await portableDefinition(loadPipeline('sample')), { pipeline: 'package/pipelines/sample.json' });
  });
});
