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
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeJsonAtomic } from './atomic';
import { processAlive, startTime, tryLockFile, withLockFile } from './lock-file';

export interface ServerRecord {
  home: string;
  port: number;
  uiPort: number;
  dbFile: string;
  guardPid: number;
  serverPid: number;
  startedAt: string;
}

export { processAlive };

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

/** Takes `<dir>/server.lock` now (a dead holder's lock is taken over: infra/lock-file.ts), or undefined. */
export function tryLock(dir: string): (() => void) | undefined {
  return tryLockFile(join(dir, 'server.lock'), (m) => console.error(m));
}

export async function withLock<T>(dir: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  mkdirSync(dir, { recursive: true });
  return withLockFile(join(dir, 'server.lock'), fn, { timeoutMs, what: "this home's embedded Temporal server" });
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
