/**
 * What the store boundary sends to a real S3 store (Versity Gateway) around each activity (issue 19's bench: the
 * store cost 1.35× the local store at 1 M events). After every activity the run folders it was handed are walked
 * again; files this worker already put or fetched and that have not changed since are neither read, hashed nor
 * asked about again, a changed one is put again, and each step's calls are counted under that step even when
 * steps run at once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ContentCache, CountingStore, StoreBoundary, type ArtifactStore } from '../../../store';
import { withStore } from '../../../activities/store-boundary';
import type { ObjectServer } from '../../../store/versitygw';
import { s3StoreOn, startTestObjectServer } from '../../helpers/object-store';

const env = () => new MockActivityEnvironment({ attempt: 1 }, { logger: new DefaultLogger('WARN') });

/** The store's calls, counted by the test itself (so this test reads the same on code without CountingStore). */
function counted(inner: ArtifactStore) {
  const n = { put: 0, get: 0, head: 0, list: 0 };
  const store: ArtifactStore = {
    url: inner.url,
    put: (k, b, o) => (n.put++, inner.put(k, b, o)),
    get: (k) => (n.get++, inner.get(k)),
    head: (k) => (n.head++, inner.head(k)),
    list: (p) => (n.list++, inner.list(p)),
    listInfo: (p) => (n.list++, inner.listInfo(p)),
    delete: (k) => inner.delete(k),
    close: () => inner.close(),
  };
  const take = () => {
    const now = { ...n };
    n.put = n.get = n.head = n.list = 0;
    return now;
  };
  return { store, take };
}

const FILES = 40;

/** A feature step: writes a run folder of many files and returns only the folder (as most steps do). */
const produce = async (a: { runDir: string }) => {
  mkdirSync(a.runDir, { recursive: true });
  for (let i = 0; i < FILES; i++) writeFileSync(join(a.runDir, `fold-${i}.json`), JSON.stringify({ i }));
  return { runDir: a.runDir };
};
/** A later step handed the same folder: reads one file, writes one new and rewrites one (same size, new bytes). */
const later = async (a: { runDir: string }) => {
  writeFileSync(join(a.runDir, 'scores.json'), '[1,2,3]');
  writeFileSync(join(a.runDir, 'fold-7.json'), JSON.stringify({ j: 7 }));
  return { runDir: a.runDir, read: readFileSync(join(a.runDir, 'fold-1.json'), 'utf8') };
};
const idle = async (a: { runDir: string }) => ({ runDir: a.runDir });

describe('store traffic around each activity (issue 19 bench)', { timeout: 120_000 }, () => {
  let server: ObjectServer;
  let s3: ArtifactStore;
  before(async () => {
    server = await startTestObjectServer('traffic');
    s3 = s3StoreOn(server, 'fc');
  });
  after(async () => server?.stop());

  it('puts a run folder once; later steps handed it put only what changed and ask nothing of the rest', async () => {
    const home = mkdtempSync(join(tmpdir(), 'fc-traffic-'));
    const { store, take } = counted(s3);
    const acts = withStore({ produce, later, idle }, new StoreBoundary(store, new ContentCache(join(home, 'c')), home));
    const runDir = join(home, 'runs', 'p', 'r1');

    await env().run(acts.produce, { runDir });
    assert.equal(take().put, FILES, 'the new run folder is put whole');

    await env().run(acts.idle, { runDir: 'runs/p/r1' });
    assert.deepEqual(take(), { put: 0, get: 0, head: 1, list: 1 }, 'unchanged files: not asked about again');

    await env().run(acts.later, { runDir: 'runs/p/r1' });
    const t = take();
    assert.equal(t.put, 2, 'the new file and the rewritten one (same size, other bytes) are put');
    assert.ok(t.head <= 2, `HEADs: ${t.head} (the folder key and the new file at most)`);
    assert.equal(t.get, 0);
    const fold7 = await s3.get('runs/p/r1/fold-7.json');
    assert.equal(fold7?.body.toString(), '{"j":7}', 'the store has the rewritten bytes');
  });

  it('a second machine fetches a folder once, and re-reads nothing of its copy while it is unchanged', async () => {
    const home = mkdtempSync(join(tmpdir(), 'fc-traffic2-'));
    const { store, take } = counted(s3);
    const acts = withStore({ idle }, new StoreBoundary(store, new ContentCache(join(home, 'c')), home));
    await env().run(acts.idle, { runDir: 'runs/p/r1' });
    const first = take();
    assert.equal(first.get, FILES + 1, 'every object fetched once');
    assert.ok(first.head <= FILES + 2, `one HEAD per object, not two: ${first.head}`);
    const copy = join(home, 'runs', 'p', 'r1', 'fold-7.json');
    assert.equal(readFileSync(copy, 'utf8'), '{"j":7}');

    await env().run(acts.idle, { runDir: 'runs/p/r1' });
    assert.deepEqual(take(), { put: 0, get: 0, head: 1, list: 1 }, 'nothing fetched or asked about twice');

    writeFileSync(copy, '{"x":0}'); // a damaged local copy (same size): restored, never assumed
    await env().run(acts.idle, { runDir: 'runs/p/r1' });
    assert.equal(readFileSync(copy, 'utf8'), '{"j":7}');
    assert.equal(take().put, 0, 'the damaged copy is not put over the store’s bytes');
  });

  it('counts each step’s calls under that step, also when steps of one worker run at once', async () => {
    const home = mkdtempSync(join(tmpdir(), 'fc-traffic3-'));
    const counting = new CountingStore(s3);
    const acts = withStore({ produce, idle }, new StoreBoundary(counting, new ContentCache(join(home, 'c')), home));
    await Promise.all([
      env().run(acts.produce, { runDir: join(home, 'runs', 'q', 'a') }),
      env().run(acts.produce, { runDir: join(home, 'runs', 'q', 'b') }),
      env().run(acts.idle, { runDir: 'runs/p/r1' }),
    ]);
    const p = counting.steps.get('produce')!;
    const i = counting.steps.get('idle')!;
    assert.equal(p.calls, 2);
    assert.equal(p.put, 2 * FILES);
    assert.equal(p.hashed, 2 * FILES);
    assert.equal(p.get, 0, 'the other step’s fetches are not counted here');
    assert.equal(p.head, 2 * FILES, 'one HEAD per new file');
    assert.equal(i.calls, 1);
    assert.equal(i.put, 0);
    assert.ok(i.get > 0 && i.head > 0, 'the folder fetched under the step that asked for it');
    assert.ok(p.boundarySeconds > 0 && i.storeSeconds > 0 && i.storeSeconds <= i.boundarySeconds + 1e-9);
    assert.equal(counting.steps.get('(other)'), undefined);
  });

  it('a training fold fetches its inputs by key, not the run folder it writes into, and its model is put', async () => {
    const home = mkdtempSync(join(tmpdir(), 'fc-traffic5-'));
    const { store, take } = counted(s3);
    const trainModel = async (a: { runDir: string; featuresPath: string }) => {
      const rows = readFileSync(a.featuresPath, 'utf8');
      mkdirSync(join(a.runDir, 'models'), { recursive: true });
      writeFileSync(join(a.runDir, 'models', 'forest-fold-0.model.json'), `{"rows":${rows.length}}`);
      return { modelPath: join(a.runDir, 'models', 'forest-fold-0.model.json') };
    };
    const acts = withStore({ trainModel }, new StoreBoundary(store, new ContentCache(join(home, 'c')), home));
    const out = await env().run(acts.trainModel, { runDir: 'runs/p/r1', featuresPath: 'runs/p/r1/fold-3.json' });
    assert.deepEqual(out, { modelPath: 'runs/p/r1/models/forest-fold-0.model.json' });
    const t = take();
    assert.equal(t.get, 1, 'only the table it reads');
    assert.equal(t.put, 1, 'its model');
    assert.equal(t.list, 0, 'the run folder is not listed');
    assert.equal((await s3.get('runs/p/r1/models/forest-fold-0.model.json'))?.body.toString(), '{"rows":7}');
    assert.ok(!existsSync(join(home, 'runs', 'p', 'r1', 'fold-1.json')), 'the rest of the run stays in the store');
  });

  it('bytes fetched are counted once when a worker fetches for several steps at once', async () => {
    const home = mkdtempSync(join(tmpdir(), 'fc-traffic4-'));
    const counting = new CountingStore(s3);
    const b = new StoreBoundary(counting, new ContentCache(join(home, 'c')), home);
    const acts = withStore({ idle }, b);
    await Promise.all(['runs/p/r1', 'runs/q/a', 'runs/q/b'].map((runDir) => env().run(acts.idle, { runDir })));
    const got = counting.steps.get('idle')!.bytesGot;
    assert.ok(got > 0);
    assert.equal(b.stats.bytesFetched, got, 'the boundary’s count is what the store sent, not more');
  });
});
