/**
 * What training checkpoints cost the store, on a real S3 server (Versity Gateway): a fit writes a tree file every
 * few milliseconds, and each upload puts the files written since the last one as one object, so the number of
 * PUTs is bounded by the fit's duration over the upload interval, not by the number of trees (the code before put
 * one object per tree: ~100 PUTs and, at the end, ~100 DELETEs per 100-tree fold). A worker lost without a flush
 * (SIGKILL) leaves what it uploaded: another machine restores those trees byte for byte; finishing deletes them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../../../infra/atomic';
import { CheckpointSync } from '../../../activities/checkpoint-store';
import { ContentCache, CountingStore, StoreBoundary } from '../../../store';
import type { ObjectServer } from '../../../store/versitygw';
import { s3StoreOn, startTestObjectServer } from '../../helpers/object-store';

const EVERY_MS = 100;
const TREES = 100;

/** A machine of its own (home, cache) on the shared store, counting its store calls. */
function machine(server: ObjectServer) {
  const home = mkdtempSync(join(tmpdir(), 'fc-pack-home-'));
  const counting = new CountingStore(s3StoreOn(server, 'fc'));
  const boundary = new StoreBoundary(counting, new ContentCache(join(home, 'cache')), home) as StoreBoundary & {
    store: CountingStore;
  };
  const dir = join(home, 'runs', 'p', 'r1', 'models', 'forest-fold1of3.checkpoint');
  mkdirSync(dir, { recursive: true });
  const sync = new CheckpointSync(boundary, dir, 'checkpoints/runs/p/r1/models/forest-fold1of3.checkpoint', EVERY_MS);
  const calls = () => counting.stepStats('(other) checkpoints'); // outside any step
  return { dir, sync, calls };
}

/** A tree file as the forest writes it (atomically, JSON), of a size that differs per tree. */
const treeBody = (t: number) => JSON.stringify({ tree: { t, nodes: 'x'.repeat(2_000 + 37 * t) }, importance: [t] });

describe('training checkpoints are uploaded in packs', { timeout: 120_000 }, () => {
  let server: ObjectServer;
  const saved = { ...process.env };
  before(async () => {
    server = await startTestObjectServer('pack');
  });
  after(async () => {
    process.env = saved;
    await server?.stop();
  });

  it('PUTs grow with the fit’s duration, not its trees; a lost worker’s trees are restored elsewhere, then deleted', async () => {
    const a = machine(server);
    const t0 = performance.now();
    for (let t = 0; t < TREES; t++) {
      writeFileAtomic(join(a.dir, `tree-${String(t).padStart(5, '0')}.json`), treeBody(t));
      a.sync.poke();
      await sleep(10);
    }
    const seconds = (performance.now() - t0) / 1000;
    await sleep(500); // the upload in flight ends; then the worker is lost: no flush
    const puts = a.calls().put;
    const bound = Math.floor((seconds * 1000) / EVERY_MS) + 2;
    assert.ok(puts >= 2 && puts <= bound, `${puts} PUTs for ${TREES} trees in ${seconds.toFixed(2)} s (≤ ${bound})`);

    const b = machine(server);
    const restored = await b.sync.restore();
    const names = readdirSync(b.dir).sort();
    assert.equal(restored, names.length);
    assert.ok(restored >= TREES / 2, `restored ${restored} of the ${TREES} trees the lost attempt wrote`);
    for (const n of names) assert.deepEqual(readFileSync(join(b.dir, n)), readFileSync(join(a.dir, n)), n);
    assert.ok(b.calls().get <= puts, `${b.calls().get} GETs to restore (${puts} objects)`);

    await b.sync.finish();
    assert.ok(b.calls().delete <= puts, `${b.calls().delete} DELETEs (${puts} objects)`);
    const left = await s3StoreOn(server, 'fc').list('checkpoints/');
    assert.deepEqual(left, [], 'the checkpoint is deleted once the fold is finished');
  });

  it('an attempt that stops flushes the rest in one PUT; its retry resumes from every tree', async () => {
    const a = machine(server);
    for (let t = 0; t < 30; t++) writeFileAtomic(join(a.dir, `tree-${String(t).padStart(5, '0')}.json`), treeBody(t));
    a.sync.poke();
    for (let t = 30; t < 60; t++) writeFileAtomic(join(a.dir, `tree-${String(t).padStart(5, '0')}.json`), treeBody(t));
    await a.sync.flush();
    assert.equal(a.calls().put, 2, 'one PUT at the poke, one at the flush');
    const b = machine(server);
    assert.equal(await b.sync.restore(), 60);
    await b.sync.finish();
  });
});
