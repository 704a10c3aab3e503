/**
 * The one lock file (infra/lock-file.ts) behind the registry's `.lock` and a home's `server.lock`: a lock left by a
 * dead process is taken over at once with a message (the registry used to wait for it to be 10 minutes old, and
 * said so only after its 60 s timeout, 330 s in a run); a live holder is waited for, with a message naming its pid.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tryLockFile, withLockFile } from '../../../infra/lock-file';
import { ModelRegistry } from '../../../registry';
import { tempDir } from '../../helpers/warehouse';

const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

describe('lock files', () => {
  it("the registry takes over a dead publisher's lock at once, and says so", async () => {
    const root = tempDir('fc-reg-lock-');
    const reg = new ModelRegistry(root);
    const pid = deadPid();
    writeFileSync(join(root, '.lock'), `${pid} 12345`);
    const logs: string[] = [];
    const original = console.error;
    console.error = (m: string) => logs.push(m);
    const started = Date.now();
    try {
      assert.equal(await reg.withLock(() => 'done', 3_000), 'done');
    } finally {
      console.error = original;
    }
    assert.ok(Date.now() - started < 1_000, `took ${Date.now() - started} ms`);
    assert.ok(
      logs.some((l) => l.includes(`holder (pid ${pid}) is gone; taking the lock over`)),
      logs.join('\n'),
    );
    assert.ok(!existsSync(join(root, '.lock')), 'released');
  });

  it('a live holder is waited for with a message naming its pid, and the timeout names it too', async () => {
    const file = join(tempDir('fc-lock-'), 'x.lock');
    const child = spawn('sleep', ['30']);
    try {
      writeFileSync(file, String(child.pid));
      const logs: string[] = [];
      await assert.rejects(
        withLockFile(file, () => 1, { timeoutMs: 400, what: 'the test resource', log: (m) => logs.push(m) }),
        (e: Error) => e.message.includes(`the test resource stayed locked for 0.4 s by pid ${child.pid}`),
      );
      assert.deepEqual(logs, [`waiting for the test resource: ${file} is held by pid ${child.pid}`]);
      // Released by its holder, it is taken.
      const waiting = withLockFile(file, () => 'mine', { timeoutMs: 5_000, what: 'x', log: () => {} });
      setTimeout(() => child.kill('SIGKILL'), 200);
      assert.equal(await waiting, 'mine');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('an empty lock (being written, or an old-format lock) is stale only after a grace period', () => {
    const file = join(tempDir('fc-lock-'), 'x.lock');
    writeFileSync(file, '');
    assert.equal(tryLockFile(file), undefined, 'just created: its writer is writing the pid');
    const old = new Date(Date.now() - 60_000);
    utimesSync(file, old, old);
    const release = tryLockFile(file);
    assert.ok(release);
    release();
  });
});
