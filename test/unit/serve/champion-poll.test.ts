/**
 * Issue 19: serve polls the champion every second. With a store, a poll reads the champion pointer only (one GET of
 * a small object); the pipeline's run records (every key under runs/<pipeline>/, thousands per run) are listed when
 * the pointer moved, while the champion's run is not found yet, and once a minute for a later run that kept the
 * champion. Before, every poll listed every key of every run and fetched the served files again. On a real store
 * (Versity Gateway), with the store's calls counted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ContentCache, StoreBoundary, type ArtifactStore } from '../../../store';
import type { ObjectServer } from '../../../store/versitygw';
import { championVersion, listingEvery, runScoredWith } from '../../../serve/runs';
import { s3StoreOn, startTestObjectServer } from '../../helpers/object-store';

const FILLER = 3000; // artifact keys of the runs besides their run.json (a real run writes hundreds)

/** The store with every call counted by kind. */
function counted(store: ArtifactStore): { store: ArtifactStore; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || !['get', 'head', 'list', 'put'].includes(String(prop))) return v;
      return (...args: unknown[]) => {
        calls[String(prop)] = (calls[String(prop)] ?? 0) + 1;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: wrapped, calls };
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const record = (runId: string, cutoff: string, version: string) =>
  json({ runId, cutoff, segmentsPath: `runs/p/${runId}/segments.parquet`, publish: { scoreWith: { version } } });

describe('serve polls the champion pointer only', { timeout: 300_000 }, () => {
  const saved = { ...process.env };
  let server: ObjectServer;
  let raw: ArtifactStore;
  before(async () => {
    server = await startTestObjectServer('poll');
    raw = s3StoreOn(server, 'poll');
    await raw.put('registry/p/champion.json', json({ version: 'v0001-r1' }));
    await raw.put('runs/p/r1/run.json', record('r1', '2024-04-01T00:00:00.000Z', 'v0001-r1'));
    await raw.put('runs/p/r1/segments.parquet', Buffer.from('PAR1'));
    for (let i = 0; i < FILLER; i += 50)
      await Promise.all(
        Array.from({ length: 50 }, (_, j) => raw.put(`runs/p/r1/models/f${i + j}.json`, Buffer.from(`${i + j}`))),
      );
  });
  after(async () => {
    process.env = saved;
    raw?.close();
    await server?.stop();
  });

  it('one GET per poll; lists when the pointer moves and, slower, for a run that kept the champion', async () => {
    const home = mkdtempSync(join(tmpdir(), 'fc-poll-'));
    process.env.FUNNELCAST_HOME = home; // serve reads the run records fetched into this home
    const { store, calls } = counted(raw);
    const b = new StoreBoundary(store, new ContentCache(join(home, 'cache')), home);
    const poll = async () => {
      const v = await championVersion('p', b);
      return v ? await runScoredWith('p', v, b) : null;
    };
    assert.equal((await poll())?.runId, 'r1', 'the first poll finds the run');
    assert.ok(calls.list! >= 1, 'it lists the run records');

    for (const k of Object.keys(calls)) delete calls[k];
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) assert.equal((await poll())?.runId, 'r1');
    const steady = (performance.now() - t0) / 20;
    assert.deepEqual({ ...calls }, { get: 20 }, 'each poll: the pointer, nothing else');

    // The pointer moves (a publish on another worker): the next poll lists; the new champion's run is not there yet.
    await raw.put('registry/p/champion.json', json({ version: 'v0002-r2' }));
    for (const k of Object.keys(calls)) delete calls[k];
    assert.equal(await poll(), null);
    assert.equal(calls.list, 1, 'listed once the pointer moved');
    const lists = () => calls.list ?? 0;
    // Its run finishes: found within the pending interval (shortened here), not on every poll before it.
    await raw.put('runs/p/r2/run.json', record('r2', '2024-05-01T00:00:00.000Z', 'v0002-r2'));
    await raw.put('runs/p/r2/segments.parquet', Buffer.from('PAR1'));
    assert.equal(await poll(), null, 'not listed again at once');
    assert.equal(lists(), 1);
    listingEvery.pendingMs = 0;
    assert.equal((await poll())?.runId, 'r2');
    assert.ok(lists() > 1);

    // A later run scored its lists with the same champion (the gate kept it): found at the slower interval.
    await raw.put('runs/p/r3/run.json', record('r3', '2024-06-01T00:00:00.000Z', 'v0002-r2'));
    await raw.put('runs/p/r3/segments.parquet', Buffer.from('PAR1'));
    const listed = lists();
    assert.equal((await poll())?.runId, 'r2', 'within the interval: the pointer only');
    assert.equal(lists(), listed);
    listingEvery.foundMs = 0;
    assert.equal((await poll())?.runId, 'r3');

    // What a poll cost before: the pointer, then a listing of every key of the runs (and the served files again).
    const t1 = performance.now();
    for (let i = 0; i < 5; i++) {
      await raw.get('registry/p/champion.json');
      await raw.list('runs/p/');
    }
    const before = (performance.now() - t1) / 5;
    console.log(
      `[serve poll] ${FILLER + 7} keys under runs/p/: a poll now ${steady.toFixed(1)} ms (1 GET); ` +
        `pointer + listing as before ${before.toFixed(1)} ms (1 GET + ${Math.ceil((FILLER + 7) / 1000)} LIST pages)`,
    );
  });
});
