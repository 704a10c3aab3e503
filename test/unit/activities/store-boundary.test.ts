/**
 * Activities on two "machines" (two homes, two caches, no shared folder) that share only a real S3-compatible
 * store (Versity Gateway), run under MockActivityEnvironment: what one returns carries store keys and no path of its
 * machine, and the other receives paths on its own machine holding the same bytes, fetched from the store.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ContentCache, StoreBoundary, type ArtifactStore } from '../../../store';
import { withStore } from '../../../activities/store-boundary';
import type { ObjectServer } from '../../../store/versitygw';
import { s3StoreOn, startTestObjectServer } from '../../helpers/object-store';

interface Ref {
  featuresPath: string;
  runDir: string;
  database: string;
}

/** A feature step as a worker runs it: writes into its run folder and returns paths (as the real ones do). */
const produce = async (a: { runDir: string }): Promise<Ref> => {
  mkdirSync(a.runDir, { recursive: true });
  writeFileSync(join(a.runDir, 'features.parquet'), Buffer.from('PAR1 rows PAR1'));
  writeFileSync(join(a.runDir, 'funnel.json'), '{"stages":3}'); // an output the result does not name
  writeFileSync(join(a.runDir, 'features.attempt'), 'claim'); // scratch: never an artifact
  return { featuresPath: join(a.runDir, 'features.parquet'), runDir: a.runDir, database: '' };
};

const consume = async (r: Ref) => ({
  features: readFileSync(r.featuresPath, 'utf8'),
  funnel: readFileSync(join(r.runDir, 'funnel.json'), 'utf8'),
  scratch: existsSync(join(r.runDir, 'features.attempt')),
  path: r.featuresPath,
  database: r.database,
});

type Consumed = Awaited<ReturnType<typeof consume>>;

const env = () => new MockActivityEnvironment({ attempt: 1 }, { logger: new DefaultLogger('WARN') });

describe('activities behind the store boundary: two machines, one S3 store', { timeout: 120_000 }, () => {
  let server: ObjectServer;
  let store: ArtifactStore;
  before(async () => {
    server = await startTestObjectServer('boundary');
    store = s3StoreOn(server, 'fc');
  });
  after(async () => server?.stop());

  it('hands keys across, never paths, and the other machine reads the same bytes', async () => {
    const homes = [mkdtempSync(join(tmpdir(), 'fc-m1-')), mkdtempSync(join(tmpdir(), 'fc-m2-'))];
    const machine = (home: string) =>
      withStore({ produce, consume }, new StoreBoundary(store, new ContentCache(join(home, 'cache')), home));
    const [m1, m2] = homes.map(machine) as [ReturnType<typeof machine>, ReturnType<typeof machine>];

    const ref = await env().run(m1.produce, { runDir: join(homes[0]!, 'runs', 'p', 'r1') });
    assert.deepEqual(ref, {
      featuresPath: 'runs/p/r1/features.parquet',
      runDir: 'runs/p/r1',
      database: '',
    });
    assert.ok(!JSON.stringify(ref).includes(homes[0]!), 'no path of machine 1 in the payload');
    assert.deepEqual(await store.list('runs/p/r1/'), ['runs/p/r1/features.parquet', 'runs/p/r1/funnel.json']);

    const got = (await env().run(m2.consume, { ...ref, database: 'warehouse/p.duckdb' })) as Consumed;
    assert.equal(got.features, 'PAR1 rows PAR1');
    assert.equal(got.funnel, '{"stages":3}');
    assert.equal(got.scratch, false);
    assert.equal(got.path, 'runs/p/r1/features.parquet', 'its own local path went back out as the key');
    assert.equal(got.database, 'warehouse/p.duckdb', 'the warehouse is never copied object by object');
    assert.ok(existsSync(join(homes[1]!, 'runs', 'p', 'r1', 'features.parquet')));
  });

  it('a missing object is fetched again, never assumed: a deleted local copy comes back from the store', async () => {
    const home = mkdtempSync(join(tmpdir(), 'fc-m3-'));
    const b = new StoreBoundary(store, new ContentCache(join(home, 'cache')), home);
    const acts = withStore({ consume }, b);
    const ref = { featuresPath: 'runs/p/r1/features.parquet', runDir: 'runs/p/r1', database: '' };
    assert.equal(((await env().run(acts.consume, ref)) as Consumed).features, 'PAR1 rows PAR1');
    writeFileSync(join(home, 'runs', 'p', 'r1', 'features.parquet'), 'torn');
    assert.equal(((await env().run(acts.consume, ref)) as Consumed).features, 'PAR1 rows PAR1');
  });
});

describe('activities behind the boundary on the local store (no FUNNELCAST_STORE)', () => {
  it('hands keys across (home files and package files), copies nothing, and reads the files in place', async () => {
    const home = mkdtempSync(join(tmpdir(), 'fc-local-'));
    const pkg = mkdtempSync(join(tmpdir(), 'fc-pkg-'));
    writeFileSync(join(pkg, 'sample.json'), '{}');
    const b = new StoreBoundary(null, null, home, pkg);
    const acts = withStore({ produce, consume, echo: async (p: string) => p }, b);
    const ref = await env().run(acts.produce, { runDir: join(home, 'runs', 'p', 'r1') });
    assert.deepEqual(ref, { featuresPath: 'runs/p/r1/features.parquet', runDir: 'runs/p/r1', database: '' });
    const got = (await env().run(acts.consume, ref)) as Consumed;
    assert.equal(got.features, 'PAR1 rows PAR1', 'read where the producer wrote it');
    assert.equal(got.path, 'runs/p/r1/features.parquet');
    // A bundled definition: the package folder is the same on every worker, so its files travel as package keys.
    assert.equal(await env().run(acts.echo, join(pkg, 'sample.json')), 'package/sample.json');
    assert.equal(b.localPath('package/sample.json'), join(pkg, 'sample.json'));
    assert.equal(await env().run(acts.echo, '/elsewhere/def.json'), '/elsewhere/def.json', 'other paths: as given');
    assert.deepEqual(b.resolve({ p: 'runs/p/r1/features.parquet', n: 'sample' }), {
      p: join(home, 'runs', 'p', 'r1', 'features.parquet'),
      n: 'sample',
    });
    assert.deepEqual(b.keys([join(home, 'runs', 'x'), join(pkg, 'sample.json')]), ['runs/x', 'package/sample.json']);
  });

  it('follows FUNNELCAST_HOME as it is when the activity runs (the worker may be built before a test sets it)', () => {
    const homes = [mkdtempSync(join(tmpdir(), 'fc-h1-')), mkdtempSync(join(tmpdir(), 'fc-h2-'))];
    let i = 0;
    const b = new StoreBoundary(null, null, () => homes[i]!);
    assert.equal(b.localPath('runs/a'), join(homes[0]!, 'runs', 'a'));
    i = 1;
    assert.equal(b.keyOf(join(homes[1]!, 'runs', 'a')), 'runs/a');
    assert.equal(b.keyOf(join(homes[0]!, 'runs', 'a')), null);
  });
});

describe('named roots: folders a deployment moves out of the home travel as keys (issue 19)', () => {
  const saved = { ...process.env };
  after(() => {
    process.env = saved;
  });

  it('FUNNELCAST_REGISTRY, FUNNELCAST_EXPORT_ROOT and FUNNELCAST_DATA_ROOT: keys out, each worker’s own folder in', () => {
    const [home, reg, exp, data, reg2, data2] = ['h', 'r', 'e', 'd', 'r2', 'd2'].map((n) =>
      mkdtempSync(join(tmpdir(), `fc-root-${n}-`)),
    );
    const b = new StoreBoundary(null, null, home);
    Object.assign(process.env, { FUNNELCAST_REGISTRY: reg, FUNNELCAST_EXPORT_ROOT: exp, FUNNELCAST_DATA_ROOT: data });
    assert.deepEqual(
      b.keys([join(reg!, 'p', 'champion.json'), join(exp!, 'crm', 'list.csv'), join(data!, 'shop', 'events.csv')]),
      ['registry/p/champion.json', 'exports/crm/list.csv', 'data/shop/events.csv'],
    );
    assert.ok(['registry/p/champion.json', 'exports/crm/list.csv', 'data/shop/events.csv'].every((k) => b.isKey(k)));
    // Another machine: the same keys, its own folders.
    Object.assign(process.env, { FUNNELCAST_REGISTRY: reg2, FUNNELCAST_DATA_ROOT: data2 });
    assert.equal(b.localPath('registry/p/champion.json'), join(reg2!, 'p', 'champion.json'));
    assert.equal(b.localPath('data/shop/events.csv'), join(data2!, 'shop', 'events.csv'));
    // A registry inside the home but not at its default place: the innermost root names it.
    process.env.FUNNELCAST_REGISTRY = join(home!, 'shared-registry');
    assert.equal(b.keyOf(join(home!, 'shared-registry', 'p', 'x')), 'registry/p/x');
    assert.equal(b.keyOf(join(home!, 'runs', 'p', 'x')), 'runs/p/x');
    // Unset: registry and exports keys fall back to the home's folders; a data key cannot, and says what to set.
    delete process.env.FUNNELCAST_REGISTRY;
    delete process.env.FUNNELCAST_DATA_ROOT;
    assert.equal(b.localPath('registry/p/x'), join(home!, 'registry', 'p', 'x'));
    assert.throws(() => b.localPath('data/shop/events.csv'), /FUNNELCAST_DATA_ROOT/);
  });
});
