/**
 * The leases and lock behind a home's shared embedded Temporal server (infra/server-lease.ts): what the guard relies
 * on to stop the server once no live process uses it, SIGKILLed and reused pids included.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { liveLeases, processAlive, takeLease, tryLock } from '../../../infra/server-lease';
import { tempDir } from '../../helpers/warehouse';

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

describe('server leases', () => {
  it('a lease lives as long as its process and is ended once', () => {
    const dir = tempDir('fc-lease-');
    const end = takeLease(dir);
    const other = takeLease(dir);
    assert.equal(liveLeases(dir).length, 2);
    end();
    end();
    assert.equal(liveLeases(dir).length, 1);
    other();
    assert.deepEqual(liveLeases(dir), []);
  });

  it('leases of dead processes, or of a reused pid, do not count and are cleared', () => {
    const dir = tempDir('fc-lease-');
    mkdirSync(join(dir, 'users'));
    const dead = deadPid();
    assert.equal(processAlive(dead), false);
    writeFileSync(join(dir, 'users', `${dead}-0`), '');
    // Our own pid, but a different start time: the process that took this lease is gone and the pid was reused.
    writeFileSync(join(dir, 'users', `${process.pid}-99`), '1');
    assert.deepEqual(liveLeases(dir), []);
    assert.deepEqual(readdirSync(join(dir, 'users')), []);
  });

  it('the lock is exclusive while its holder lives and broken when the holder died', () => {
    const dir = tempDir('fc-lock-');
    const release = tryLock(dir);
    assert.ok(release);
    assert.equal(tryLock(dir), undefined, 'held by a live process');
    release();
    writeFileSync(join(dir, 'server.lock'), String(deadPid()));
    const again = tryLock(dir);
    assert.ok(again, "a dead holder's lock is taken over at once (infra/lock-file.ts)");
    again();
    assert.ok(!existsSync(join(dir, 'server.lock')));
  });
});
