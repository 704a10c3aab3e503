/**
 * The one lock file of the project (the registry's `.lock`, a home's `temporal/server.lock`): created with O_EXCL,
 * holding the holder's pid and the kernel's start time of that process.
 *
 * A lock whose holder is dead (or whose pid now belongs to another process) is taken over at once, with a message
 * saying so: a SIGKILLed publish used to block the registry for 10 minutes (by the file's age), reported only after
 * 330 s. A live holder is waited for, with a message naming its pid, until the timeout.
 */
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** The kernel's start time of a process (Linux), so a dead holder's lock is not kept alive by pid reuse. */
export function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

/** Alive and not a zombie (a SIGKILLed child not yet reaped still answers kill(pid, 0)). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return true; // no /proc (macOS): kill(pid, 0) is all we know
  }
}

/** A lock file left empty this long was never finished by its writer (or is an old-format lock): stale. */
const EMPTY_GRACE_MS = 5_000;

type Holder = { pid: number; alive: boolean; ino: number } | undefined;

/** Who holds `file`: undefined when there is no file any more. */
function holder(file: string): Holder {
  try {
    const st = statSync(file);
    const [pidText, started] = readFileSync(file, 'utf8').trim().split(/\s+/);
    const pid = Number(pidText);
    if (!pidText) return { pid: 0, alive: Date.now() - st.mtimeMs < EMPTY_GRACE_MS, ino: st.ino };
    const alive = processAlive(pid) && (!started || started === startTime(pid));
    return { pid, alive, ino: st.ino };
  } catch {
    return undefined;
  }
}

export type LockLog = (message: string) => void;

/**
 * Takes `file` now, or returns undefined while a live process holds it. A dead holder's lock is removed (only if
 * it is still the same file) and taken over, with a message.
 */
export function tryLockFile(file: string, log: LockLog = () => {}): (() => void) | undefined {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid} ${startTime(process.pid)}`);
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const h = holder(file);
    if (h?.alive) return undefined;
    if (h) {
      // Remove it only if it is still the stale file we judged, not a lock someone took meanwhile.
      if (statSync(file, { throwIfNoEntry: false })?.ino !== h.ino) continue;
      rmSync(file, { force: true });
      log(
        `${file}: its holder (${h.pid ? `pid ${h.pid}` : 'a process that never wrote its pid'}) is gone; taking the lock over`,
      );
    }
  }
  return undefined;
}

/** Runs fn while holding `file`; waits for a live holder (saying so once) for at most `timeoutMs`. */
export async function withLockFile<T>(
  file: string,
  fn: () => Promise<T> | T,
  opts: { timeoutMs: number; what: string; log?: LockLog },
): Promise<T> {
  const log = opts.log ?? ((m: string) => console.error(m));
  const deadline = Date.now() + opts.timeoutMs;
  let release = tryLockFile(file, log);
  let said = false;
  while (!release) {
    const h = holder(file);
    if (Date.now() > deadline)
      throw new Error(
        `${opts.what} stayed locked for ${opts.timeoutMs / 1000} s by ${h?.pid ? `pid ${h.pid}` : 'another process'} (${file}); ` +
          `if no funnelcast process is running, delete the file`,
      );
    if (!said && h?.alive) {
      log(`waiting for ${opts.what}: ${file} is held by pid ${h.pid || '?'}`);
      said = true;
    }
    await sleep(50 + Math.random() * 100);
    release = tryLockFile(file, log);
  }
  try {
    return await fn();
  } finally {
    release();
  }
}
