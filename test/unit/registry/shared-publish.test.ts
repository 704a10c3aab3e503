/**
 * Concurrent publishers through the real publish path (openRegistry(…).publish, what the publish activity calls),
 * each a process with its own FUNNELCAST_HOME, as workers on different machines are: they share only the store,
 * a real S3-compatible server (Versity Gateway) or a folder named by FUNNELCAST_STORE=file://. All of them read
 * the pointer and decide before any writes it; exactly one moves it, the others are told to compare again, every
 * worker's registry folder then shows the store's champion, and promote/rollback move the same pointer.
 * On the old path (each worker's own registry folder) every publisher became champion of its own folder.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LocalStore, S3Store, s3Location, type ArtifactStore } from '../../../store';
import { openRegistry } from '../../../registry/open';
import { StoreRegistry } from '../../../registry/store-registry';
import type { ObjectServer } from '../../../store/versitygw';
import { startTestObjectServer } from '../../helpers/object-store';

const run = promisify(execFile);
const child = join(__dirname, '..', '..', 'helpers', 'publish-child.js');

interface ChildResult {
  outcome: { version?: string; decision?: string; error?: string; message?: string };
  seen: string | null;
  root: string;
}

async function publishers(env: NodeJS.ProcessEnv, runs: { runId: string; auc: number; champ?: [string, number] }[]) {
  const barrier = `${mkdtempSync(join(tmpdir(), 'fc-barrier-'))}:${runs.length}`;
  const outs = await Promise.all(
    runs.map(async (r) => {
      const home = mkdtempSync(join(tmpdir(), 'fc-machine-'));
      const args = [child, 'race', r.runId, String(r.auc), ...(r.champ ? [r.champ[0], String(r.champ[1])] : [])];
      const { stdout } = await run(process.execPath, args, {
        env: { ...process.env, ...env, FUNNELCAST_HOME: home, FUNNELCAST_TEST_POINTER_BARRIER: barrier },
      });
      return JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildResult;
    }),
  );
  return outs;
}

function concurrentPublishes(name: string, setup: () => { env: NodeJS.ProcessEnv; store: () => ArtifactStore }) {
  it(`${name}: 4 publishing processes, one champion, every worker sees it; promote and rollback move it`, async () => {
    const { env, store } = setup();
    const first = await publishers(
      env,
      [0, 1, 2, 3].map((i) => ({ runId: `run${i}`, auc: 0.7 + i / 100 })),
    );
    const won = first.filter((r) => r.outcome.decision);
    const lost = first.filter((r) => r.outcome.error);
    assert.equal(won.length, 1, JSON.stringify(first, null, 1));
    assert.equal(won[0]!.outcome.decision, 'first');
    for (const l of lost) assert.equal(l.outcome.error, 'ChampionMovedError', l.outcome.message);
    const winner = won[0]!.outcome.version!;
    for (const r of first) assert.equal(r.seen, winner, `${r.root} shows the store's champion`);
    const shared = new StoreRegistry(store(), 'race');
    assert.deepEqual(
      (await shared.versions()).map((v) => v.slice(0, 5)),
      ['v0001', 'v0002', 'v0003', 'v0004'],
    );

    // The retries compare with the new champion; of two that both beat it, one moves the pointer again.
    const again = await publishers(env, [
      { runId: 'late0', auc: 0.9, champ: [winner, 0.7] },
      { runId: 'late1', auc: 0.91, champ: [winner, 0.7] },
    ]);
    assert.equal(again.filter((r) => r.outcome.decision === 'promoted').length, 1, JSON.stringify(again));
    const promoted = again.find((r) => r.outcome.decision === 'promoted')!.outcome.version!;
    assert.equal((await shared.champion())!.version, promoted);

    // By hand, from a third machine's folder: rollback and promote go to the store's pointer.
    const reg = await openRegistry('race', store(), join(mkdtempSync(join(tmpdir(), 'fc-op-')), 'race'));
    assert.equal(reg.champion()!.version, promoted);
    assert.equal((await reg.rollback('operator')).version, winner);
    assert.equal((await shared.champion())!.version, winner);
    assert.equal(reg.champion()!.version, winner, 'the folder is refreshed after the move');
    assert.deepEqual(
      reg.history().map((h) => [h.action, h.version]),
      [
        ['gate', winner],
        ['gate', promoted],
        ['rollback', winner],
      ],
    );
    await reg.promote(promoted, { by: 'operator', reason: 'back' });
    assert.equal((await shared.champion())!.version, promoted);
    assert.deepEqual(reg.verify(promoted), [], 'a version mirrored from the store passes its manifest check');
  });
}

describe('publish through the registry in the store: concurrent publishers', { timeout: 240_000 }, () => {
  let server: ObjectServer;
  before(async () => {
    server = await startTestObjectServer('publish');
  });
  after(async () => server?.stop());

  concurrentPublishes('S3 (Versity Gateway)', () => {
    const env = { ...server.env('fc'), FUNNELCAST_STORE: `s3://${server.bucket}/fc` };
    Object.assign(process.env, server.env('fc'));
    return { env, store: () => new S3Store(s3Location(`s3://${server.bucket}/fc`)) };
  });
  concurrentPublishes('local folder store', () => {
    const root = mkdtempSync(join(tmpdir(), 'fc-pubstore-'));
    return { env: { FUNNELCAST_STORE: `file://${root}` }, store: () => new LocalStore(root) };
  });
});
