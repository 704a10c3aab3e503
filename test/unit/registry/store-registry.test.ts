/**
 * The registry in the object store with many writers: concurrent publishers, each with its own client (as workers
 * on different machines would be), against a real S3-compatible server (Versity Gateway) and the local folder.
 * Every version gets its own number; of the publishers that compared with the same champion, exactly one moves
 * the pointer, and the others are told to compare again.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore, S3Store, s3Location, type ArtifactStore } from '../../../store';
import { ChampionMovedError, StoreRegistry } from '../../../registry/store-registry';
import type { ObjectServer } from '../../../store/versitygw';
import { startTestObjectServer } from '../../helpers/object-store';

const info = (auc: number) => ({
  engine: 'forest',
  primaryMetric: 'roc_auc',
  metrics: { holdout: { roc_auc: auc } },
  lineage: { cutoff: '2024-01-01T00:00:00.000Z' },
  params: {},
  featureNames: ['a'],
});

function modelFile(content: string): { name: string; path: string } {
  const path = join(mkdtempSync(join(tmpdir(), 'fc-model-')), 'model.json');
  writeFileSync(path, JSON.stringify({ content }));
  return { name: 'model.json', path };
}

function publishOpts(runId: string, auc: number, champion: { version: string; value: number } | null) {
  return {
    runId,
    files: [modelFile(runId)],
    info: info(auc),
    primaryValue: auc,
    cutoff: '2024-01-01T00:00:00.000Z',
    champion: champion ? { kind: 'same-rows' as const, ...champion } : { kind: 'none' as const },
    tolerance: 0.01,
  };
}

function concurrentPublishers(name: string, clients: () => ArtifactStore[]) {
  it(`${name}: 6 concurrent first publishes, distinct version numbers, exactly one champion`, async () => {
    // Every publisher has read the pointer and decided before any writes it: the race is certain, not likely.
    const stores = clients();
    let arrived = 0;
    let release = () => {};
    const allDecided = new Promise<void>((r) => (release = r));
    const barrier = async () => {
      if (++arrived === stores.length) release();
      await allDecided;
    };
    const regs = stores.map((s) => new StoreRegistry(s, 'race', barrier));
    const results = await Promise.allSettled(
      regs.map((r, i) => r.publish(publishOpts(`run${i}`, 0.7 + i / 100, null))),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    assert.equal(won.length, 1, results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'won')).join('\n'));
    for (const l of lost) assert.ok(l.reason instanceof ChampionMovedError, String(l.reason));
    const winner = (won[0] as PromiseFulfilledResult<{ version: string; decision: string }>).value;
    assert.equal(winner.decision, 'first');
    const versions = await regs[0]!.versions();
    assert.equal(versions.length, 6);
    assert.deepEqual(
      versions.map((v) => v.slice(0, 5)),
      ['v0001', 'v0002', 'v0003', 'v0004', 'v0005', 'v0006'],
    );
    assert.equal((await regs[0]!.champion())!.version, winner.version);
    const history = await regs[0]!.history();
    assert.deepEqual(
      history.map((h) => h.version),
      [winner.version],
    );

    // The losers' retries compare with the new champion: now each is decided, and the pointer moves by CAS again.
    const champ = (await regs[0]!.champion())!;
    arrived = 0;
    const again = new Promise<void>((r) => (release = r));
    const retryBarrier = async () => {
      if (++arrived === lost.length) release();
      await again;
    };
    const retryRegs = stores.slice(0, lost.length).map((s) => new StoreRegistry(s, 'race', retryBarrier));
    const retries = await Promise.allSettled(
      lost.map((_, i) => retryRegs[i]!.publish(publishOpts(`late${i}`, 0.9, { version: champ.version, value: 0.7 }))),
    );
    assert.equal(retries.filter((r) => r.status === 'fulfilled').length, 1, 'one promotion per champion read');
    assert.equal((await regs[0]!.history()).length, 2);
  });
}

describe('registry in the artifact store: concurrent publishers', { timeout: 180_000 }, () => {
  let server: ObjectServer;
  before(async () => {
    server = await startTestObjectServer('registry');
    Object.assign(process.env, server.env('fc'));
  });
  after(async () => server?.stop());

  concurrentPublishers('S3 (Versity Gateway)', () =>
    Array.from({ length: 6 }, () => new S3Store(s3Location(`s3://${server.bucket}/fc`))),
  );
  concurrentPublishers('local folder', () => {
    const root = mkdtempSync(join(tmpdir(), 'fc-regstore-'));
    return Array.from({ length: 6 }, () => new LocalStore(root));
  });
});
