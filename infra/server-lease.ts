/**
 * Who may use a home's embedded Temporal server, and when it stops.
 *
 * A server belongs to one home (its SQLite file lives there), and its workers execute that home's work: a process
 * of another home must never attach to it. Every process that uses it registers a lease file under
 * `<home>/temporal/users/`; a small guard process (infra/server-guard.ts) owns the server and stops it once no lease
 * belongs to a live process. So concurrent commands in one home share the server and the last one out stops it, and
 * a SIGKILLed command cannot leave a server behind (its lease dies with it). `server.json` says where this home's
 * server runs; `server.lock` serialises starting, joining and stopping it.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeJsonAtomic } from './atomic';

export interface ServerRecord {
  home: string;
  port: number;
  uiPort: number;
  dbFile: string;
  guardPid: number;
  serverPid: number;
  startedAt: string;
}

/** The kernel's start time of a process (Linux), so a lease of a dead process is not revived by pid reuse. */
function startTime(pid: number): string {
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

export const recordFile = (dir: string) => join(dir, 'server.json');
const usersDir = (dir: string) => join(dir, 'users');

export function readRecord(dir: string): ServerRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordFile(dir), 'utf8')) as ServerRecord;
  } catch {
    return undefined;
  }
}

export function writeRecord(dir: string, rec: ServerRecord): void {
  writeJsonAtomic(recordFile(dir), rec);
}

export function removeRecord(dir: string, guardPid: number): void {
  if (readRecord(dir)?.guardPid === guardPid) rmSync(recordFile(dir), { force: true });
}

/** Takes `<dir>/server.lock` (a file holding the holder's pid; a dead holder's lock is broken), or undefined. */
export function tryLock(dir: string): (() => void) | undefined {
  const file = join(dir, 'server.lock');
  try {
    const fd = openSync(file, 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return () => rmSync(file, { force: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    let holder = NaN;
    try {
      holder = Number(readFileSync(file, 'utf8'));
    } catch {
      return undefined;
    }
    // An empty file is a lock being written right now; a dead holder's lock is stale.
    if (Number.isInteger(holder) && holder > 0 && !processAlive(holder)) rmSync(file, { force: true });
    return undefined;
  }
}

export async function withLock<T>(dir: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  mkdirSync(dir, { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let release = tryLock(dir);
  while (!release) {
    if (Date.now() > deadline)
      throw new Error(
        `${join(dir, 'server.lock')} stayed locked for ${timeoutMs / 1000} s; delete it if no funnelcast runs`,
      );
    await sleep(50);
    release = tryLock(dir);
  }
  try {
    return await fn();
  } finally {
    release();
  }
}

let leaseCounter = 0;

/** Registers this process as a user of the home's server; the returned function ends the lease (idempotent). */
export function takeLease(dir: string): () => void {
  mkdirSync(usersDir(dir), { recursive: true });
  const file = join(usersDir(dir), `${process.pid}-${leaseCounter++}`);
  writeFileSync(file, startTime(process.pid));
  const end = () => {
    process.removeListener('exit', end);
    rmSync(file, { force: true });
  };
  // A normal exit (or process.exit) ends the lease at once; a SIGKILL leaves a file the guard finds dead.
  process.on('exit', end);
  return end;
}

/** The leases of live processes; leases of dead ones are removed on the way. */
export function liveLeases(dir: string): string[] {
  if (!existsSync(usersDir(dir))) return [];
  return readdirSync(usersDir(dir)).filter((name) => {
    const file = join(usersDir(dir), name);
    const pid = Number(name.split('-')[0]);
    let started = '';
    try {
      started = readFileSync(file, 'utf8');
    } catch {
      return false;
    }
    if (processAlive(pid) && (started === '' || started === startTime(pid))) return true;
    rmSync(file, { force: true });
    return false;
  });
}

/**
 * Machine-wide note of which home's server holds a port, only to say so when another home finds the port taken.
 */
const portNote = (port: number) => join(tmpdir(), `funnelcast-temporal-${port}.json`);

export function notePort(port: number, home: string, guardPid: number): void {
  try {
    writeFileSync(portNote(port), JSON.stringify({ home, guardPid }));
  } catch {
    // Only used for a clearer message.
  }
}

export function clearPortNote(port: number, guardPid: number): void {
  try {
    if ((JSON.parse(readFileSync(portNote(port), 'utf8')) as { guardPid: number }).guardPid === guardPid)
      rmSync(portNote(port), { force: true });
  } catch {
    // Nothing noted.
  }
}

/** The home whose embedded server holds `port`, when a live funnelcast guard noted it. */
export function homeOnPort(port: number): string | undefined {
  try {
    const n = JSON.parse(readFileSync(portNote(port), 'utf8')) as { home: string; guardPid: number };
    return processAlive(n.guardPid) ? n.home : undefined;
  } catch {
    return undefined;
  }
}
