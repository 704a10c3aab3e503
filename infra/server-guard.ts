/**
 * The guard of a home's embedded Temporal server: a detached process (its own process group, so a Ctrl-C meant for
 * a command does not kill the server under the other commands using it) that starts `temporal server start-dev`,
 * records it in `<home>/temporal/server.json`, and stops it once no live process holds a lease on it (see
 * infra/server-lease.ts). Started by infra/temporal.ts as `node server-guard.js '<json GuardConfig>'`.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { clearPortNote, liveLeases, notePort, processAlive, removeRecord, tryLock, writeRecord } from './server-lease';

export interface GuardConfig {
  cli: string;
  args: string[];
  home: string;
  dir: string;
  dbFile: string;
  logFile: string;
  port: number;
  uiPort: number;
}

/** How often the guard looks for live leases: a killed command's server is gone about this long after it. */
const POLL_MS = 500;

function main(cfg: GuardConfig): void {
  const out = openSync(cfg.logFile, 'a');
  const child = spawn(cfg.cli, cfg.args, { stdio: ['ignore', out, out] });
  if (!child.pid) process.exit(1);
  writeRecord(cfg.dir, {
    home: cfg.home,
    port: cfg.port,
    uiPort: cfg.uiPort,
    dbFile: cfg.dbFile,
    guardPid: process.pid,
    serverPid: child.pid,
    startedAt: new Date().toISOString(),
  });
  notePort(cfg.port, cfg.home, process.pid);
  let release: (() => void) | undefined;
  let stopping = false;
  child.once('exit', () => {
    removeRecord(cfg.dir, process.pid);
    clearPortNote(cfg.port, process.pid);
    release?.();
    process.exit(0);
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // Later arrivals must start a new server, not join this one while it shuts down.
    removeRecord(cfg.dir, process.pid);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  };
  setInterval(() => {
    if (stopping) return;
    // The home was deleted: nobody can hold a lease on this server any more.
    if (!existsSync(cfg.dir)) return stop();
    try {
      // The lock is held while a command joins, so a lease taken during that check is never missed.
      const lock = tryLock(cfg.dir);
      if (!lock) return;
      if (liveLeases(cfg.dir).length > 0) return lock();
      release = lock; // held until the server has exited, so nobody joins a dying server
      stop();
    } catch {
      // A passing file-system error (the home being deleted, say): look again at the next tick.
    }
  }, POLL_MS);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, stop);
  // The guard must not outlive a server that died on its own either.
  setInterval(() => {
    if (!processAlive(child.pid!)) process.exit(0);
  }, 5_000).unref();
}

if (require.main === module) main(JSON.parse(process.argv[2]) as GuardConfig);
