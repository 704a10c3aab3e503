/**
 * The artifact store's contract, on both implementations: the local folder and a real S3-compatible server
 * (Versity Gateway). Conditional writes are checked as the server answers them: exactly one of many concurrent
 * compare-and-swap writers wins.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  casJson,
  ContentCache,
  LocalStore,
  MissingObjectError,
  PreconditionFailedError,
  publishSet,
  readJson,
  sha256Hex,
  type ArtifactStore,
} from '../../../store';
import type { ObjectServer } from '../../../store/versitygw';
import { s3StoreOn, startTestObjectServer } from '../../helpers/object-store';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

function contract(name: string, open: () => Promise<ArtifactStore>, close: () => Promise<void>) {
  describe(`artifact store: ${name}`, { timeout: 120_000 }, () => {
    let store: ArtifactStore;
    before(async () => (store = await open()));
    after(close);

    it('puts, gets, heads, lists and deletes by key', async () => {
      const put = await store.put('runs/p/r1/a.txt', Buffer.from('alpha'));
      assert.equal(put.sha256, sha256Hex(Buffer.from('alpha')));
      await store.put('runs/p/r1/sub/b.txt', Buffer.from('beta'));
      await store.put('runs/p/r10/c.txt', Buffer.from('gamma'));
      assert.equal((await store.get('runs/p/r1/a.txt'))!.body.toString(), 'alpha');
      const head = await store.head('runs/p/r1/sub/b.txt');
      assert.equal(head!.bytes, 4);
      assert.equal(head!.sha256, sha256Hex(Buffer.from('beta')));
      assert.deepEqual(await store.list('runs/p/r1/'), ['runs/p/r1/a.txt', 'runs/p/r1/sub/b.txt']);
      assert.equal(await store.get('runs/p/none'), null);
      await store.delete('runs/p/r1/a.txt');
      assert.equal(await store.head('runs/p/r1/a.txt'), null);
      await assert.rejects(store.put('../escape', Buffer.from('x')), /not a store key/);
    });

    it('create-once (If-None-Match) refuses a second writer', async () => {
      await store.put('once.json', Buffer.from('1'), { ifNoneMatch: '*' });
      await assert.rejects(store.put('once.json', Buffer.from('2'), { ifNoneMatch: '*' }), PreconditionFailedError);
      assert.equal((await store.get('once.json'))!.body.toString(), '1');
    });

    it('compare-and-swap (If-Match) refuses a stale ETag and accepts the current one', async () => {
      const first = await store.put('ptr.json', Buffer.from('"v1"'));
      const second = await store.put('ptr.json', Buffer.from('"v2"'), { ifMatch: first.etag });
      await assert.rejects(
        store.put('ptr.json', Buffer.from('"v3"'), { ifMatch: first.etag }),
        PreconditionFailedError,
      );
      await store.put('ptr.json', Buffer.from('"v3"'), { ifMatch: second.etag });
      assert.equal((await readJson<string>(store, 'ptr.json'))!.value, 'v3');
    });

    it('of 8 concurrent compare-and-swap writers that read the same pointer, exactly one wins', async () => {
      await store.put('champion.json', Buffer.from(JSON.stringify({ version: 'v0' })));
      const seen = (await readJson<{ version: string }>(store, 'champion.json'))!;
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          store.put('champion.json', Buffer.from(JSON.stringify({ version: `v${i + 1}` })), { ifMatch: seen.etag }),
        ),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
      for (const r of results)
        if (r.status === 'rejected') assert.ok(r.reason instanceof PreconditionFailedError, String(r.reason));
      const now = (await readJson<{ version: string }>(store, 'champion.json'))!.value.version;
      assert.match(now, /^v[1-8]$/);
    });

    it('casJson with retries lets every writer apply its change in turn (a counter reaches 6)', async () => {
      await Promise.all(
        Array.from({ length: 6 }, () => casJson<number>(store, 'counter.json', (n) => (n ?? 0) + 1, 50)),
      );
      assert.equal((await readJson<number>(store, 'counter.json'))!.value, 6);
    });

    it('publishes a set with its manifest last; the same bytes again are accepted, other bytes refused', async () => {
      const dir = tmp('fc-set-');
      writeFileSync(join(dir, 'model.json'), '{"trees":1}');
      writeFileSync(join(dir, 'metrics.json'), '{"auc":0.7}');
      const files = ['model.json', 'metrics.json'].map((name) => ({ name, path: join(dir, name) }));
      const m = await publishSet(store, 'registry/p/versions/v0001', files);
      assert.deepEqual(
        m.files.map((f) => f.key),
        ['registry/p/versions/v0001/metrics.json', 'registry/p/versions/v0001/model.json'],
      );
      await publishSet(store, 'registry/p/versions/v0001', files);
      writeFileSync(join(dir, 'model.json'), '{"trees":2}');
      await assert.rejects(publishSet(store, 'registry/p/versions/v0001', files), /immutable/);
    });

    it('the cache serves by content hash: fetched once, hit after, re-fetched when damaged or changed', async () => {
      const cache = new ContentCache(tmp('fc-cache-'));
      await store.put('runs/p/r2/features.parquet', Buffer.from('PAR1-one'));
      const p1 = await cache.fetchFile(store, 'runs/p/r2/features.parquet');
      assert.equal(readFileSync(p1, 'utf8'), 'PAR1-one');
      await cache.fetchFile(store, 'runs/p/r2/features.parquet');
      assert.deepEqual(cache.stats, { hits: 1, fetched: 1, bytesFetched: 8 });
      writeFileSync(p1, 'PAR1-on'); // a torn copy in the cache is never trusted
      assert.equal(readFileSync(await cache.fetchFile(store, 'runs/p/r2/features.parquet'), 'utf8'), 'PAR1-one');
      await store.put('runs/p/r2/features.parquet', Buffer.from('PAR1-two'));
      assert.equal(readFileSync(await cache.fetchFile(store, 'runs/p/r2/features.parquet'), 'utf8'), 'PAR1-two');
      await assert.rejects(cache.fetchFile(store, 'runs/p/r2/missing.parquet'), MissingObjectError);
    });
  });
}

contract(
  'local folder',
  async () => new LocalStore(tmp('fc-store-')),
  async () => undefined,
);

let server: ObjectServer;
contract(
  'S3 (Versity Gateway)',
  async () => {
    server = await startTestObjectServer();
    return s3StoreOn(server);
  },
  async () => server?.stop(),
);
