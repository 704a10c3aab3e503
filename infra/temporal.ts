/**
 * Temporal server provisioning for the embedded default.
 *
 * The Temporal CLI binary is looked for in this order: $TEMPORAL_CLI, `temporal` on PATH, the project's
 * git-ignored tools folder (.tools/bin), a build with `go install …@v1.5.1` into that folder (later tags have
 * `replace` directives that break `go install`), and last the SDK's own download (machines with internet).
 * `startDevServer` joins or starts the home's `temporal server start-dev` (SQLite under the state folder), which
 * stops when the last process of that home using it is gone. When TEMPORAL_ADDRESS is set nothing is started.
 */
import { searchAttributeFlags } from './search-attribute-keys';
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from './root';
import { paths } from './paths';
import type { GuardConfig } from './server-guard';
import { homeOnPort, liveLeases, processAlive, readRecord, recordFile, takeLease, withLock } from './server-lease';

export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';
export const DEFAULT_NAMESPACE = 'default';
export const TASK_QUEUE = process.env.FUNNELCAST_TASK_QUEUE ?? 'funnelcast';

export type Log = (msg: string) => void;
const stderrLog: Log = (m) => process.stderr.write(`${m}\n`);

export function toolsBinDir(): string {
  return join(projectRoot(), '.tools', 'bin');
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}

export class TemporalCliNotFoundError extends Error {
  constructor(detail: string) {
    super(
      `Cannot find or build the Temporal CLI (${detail}).\n` +
        `Install it in one of these ways, then run the command again:\n` +
        `  - GOBIN=${toolsBinDir()} go install ${TEMPORAL_CLI_MODULE}   (needs Go >= 1.23 and the Go module proxy)\n` +
        `  - download the official CLI from https://temporal.io/cli and set TEMPORAL_CLI=/path/to/temporal\n` +
        `  - or point funnelcast at a running server with TEMPORAL_ADDRESS=host:7233`,
    );
    this.name = 'TemporalCliNotFoundError';
  }
}

/**
 * Returns the path of a Temporal CLI binary, building it with Go when needed, or `'sdk-download'` when only the
 * SDK's download route is left (it needs internet; the caller then lets the SDK start the server).
 */
export function findTemporalCli(log: Log = stderrLog): string | 'sdk-download' {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new TemporalCliNotFoundError(`TEMPORAL_CLI=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const path = onPath('temporal');
  if (path) return path;
  const local = join(toolsBinDir(), 'temporal');
  if (isExecutable(local)) return local;

  const go = onPath('go');
  if (go) {
    log(`Building the Temporal CLI into ${toolsBinDir()} (first run only, about 3 minutes on 2 cores)…`);
    mkdirSync(toolsBinDir(), { recursive: true });
    const res = spawnSync(go, ['install', TEMPORAL_CLI_MODULE], {
      env: { ...process.env, GOBIN: toolsBinDir() },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (res.status === 0 && isExecutable(local)) return local;
    log(`go install ${TEMPORAL_CLI_MODULE} failed (exit ${res.status}); trying the SDK's download next.`);
  }
  if (process.env.FUNNELCAST_NO_DOWNLOAD === '1') {
    throw new TemporalCliNotFoundError(
      go ? 'go install failed and downloads are disabled' : 'no Go toolchain and downloads are disabled',
    );
  }
  return 'sdk-download';
}

/** True when something accepts TCP connections on host:port (the server's gRPC frontend). */
export function portAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface DevServer {
  address: string;
  uiUrl: string;
  /** Whether this process started the server. */
  owned: boolean;
  /** This home's embedded server (so a worker of this process may serve it), not an external one. */
  embedded: boolean;
  /** Ends this process's use of the server; the last user's stop stops an embedded server. */
  stop(): Promise<void>;
}

export function embeddedPort(): number {
  return Number(process.env.FUNNELCAST_TEMPORAL_PORT ?? 7233);
}

/** The embedded server's port already answers for something that is not this home's server. */
export class ServerPortTakenError extends Error {
  constructor(port: number, home: string, otherHome: string | undefined) {
    const who = otherHome
      ? `the embedded Temporal server of another funnelcast home (${otherHome})`
      : 'another program';
    super(
      `port ${port} is taken by ${who}, not by this home's server (${home}). A process never runs another home's ` +
        `work: give this home its own port with FUNNELCAST_TEMPORAL_PORT (its Web UI uses port + 1000), or set ` +
        `TEMPORAL_ADDRESS=127.0.0.1:${port} to use that server as an external one.`,
    );
    this.name = 'ServerPortTakenError';
  }
}

/**
 * Joins this home's embedded server, or starts it: `temporal server start-dev` (SQLite under the state folder, Web
 * UI on port+1000) under a detached guard that stops it once no process of this home uses it any more (see
 * infra/server-lease.ts). Several commands of one home share it; a port held by anything else is refused.
 */
export async function startDevServer(opts: { port?: number; dbFile?: string; log?: Log } = {}): Promise<DevServer> {
  const log = opts.log ?? stderrLog;
  const host = '127.0.0.1';
  const dbFile = opts.dbFile ?? paths.temporalDb();
  const dir = dirname(dbFile);
  mkdirSync(dir, { recursive: true });
  const endLease = takeLease(dir);
  try {
    const rec = await withLock(dir, () => joinOrStart({ dir, dbFile, host, port: opts.port ?? embeddedPort(), log }));
    const address = `${host}:${rec.port}`;
    return {
      address,
      uiUrl: `http://localhost:${rec.uiPort}`,
      owned: rec.owned,
      embedded: true,
      stop: async () => {
        endLease();
        // The last user waits for the guard to stop the server, so the port is free when the command returns.
        const deadline = Date.now() + 20_000;
        while (liveLeases(dir).length === 0 && processAlive(rec.guardPid) && Date.now() < deadline) await sleep(100);
      },
    };
  } catch (e) {
    endLease();
    throw e;
  }
}

async function joinOrStart(o: {
  dir: string;
  dbFile: string;
  host: string;
  port: number;
  log: Log;
}): Promise<{ port: number; uiPort: number; guardPid: number; owned: boolean }> {
  const rec = readRecord(o.dir);
  const logFile = join(o.dir, 'dev-server.log');
  if (rec && processAlive(rec.guardPid) && processAlive(rec.serverPid)) {
    // This home's server is up (or still booting, or busy): join it, never start a second one on the same SQLite.
    for (let i = 0; i < 30; i++) {
      if (await portAnswers(o.host, rec.port, 1000)) return { ...rec, owned: false };
      await sleep(500);
    }
    throw new Error(
      `this home's Temporal server (pid ${rec.serverPid}) does not answer on port ${rec.port}; see ${logFile}`,
    );
  }
  if (rec) {
    // A guard that was killed itself leaves its server behind: stop it before starting this home's server again.
    if (processAlive(rec.serverPid) && !processAlive(rec.guardPid)) process.kill(rec.serverPid, 'SIGTERM');
    rmSync(recordFile(o.dir), { force: true });
    for (let i = 0; i < 100 && (await portAnswers(o.host, rec.port)); i++) await sleep(100);
  }
  const home = dirname(o.dir);
  if (await portAnswers(o.host, o.port)) throw new ServerPortTakenError(o.port, home, homeOnPort(o.port));
  const cli = findTemporalCli(o.log);
  if (cli === 'sdk-download') throw new TemporalCliNotFoundError('no local binary to start the embedded server');
  const uiPort = o.port + 1000;
  const args = ['server', 'start-dev', '--db-filename', o.dbFile, '--ip', o.host, '--port', String(o.port)];
  args.push('--ui-port', String(uiPort), '--log-level', 'warn', '--namespace', DEFAULT_NAMESPACE);
  args.push(...searchAttributeFlags());
  const cfg: GuardConfig = { cli, args, home, dir: o.dir, dbFile: o.dbFile, logFile, port: o.port, uiPort };
  const guard = spawn(process.execPath, [join(__dirname, 'server-guard.js'), JSON.stringify(cfg)], {
    detached: true,
    stdio: 'ignore',
  });
  guard.unref();
  const deadline = Date.now() + 60_000;
  while (!(readRecord(o.dir)?.guardPid === guard.pid && (await portAnswers(o.host, o.port)))) {
    if (!processAlive(guard.pid!)) throw new Error(`temporal server start-dev exited at once; see ${logFile}`);
    if (Date.now() > deadline) {
      process.kill(guard.pid!, 'SIGTERM');
      throw new Error(`temporal server start-dev did not answer on ${o.host}:${o.port} within 60 s; see ${logFile}`);
    }
    await sleep(200);
  }
  return { port: o.port, uiPort, guardPid: guard.pid!, owned: true };
}

/** Last resort on machines with internet: the SDK downloads the CLI and runs it. */
async function startWithSdkDownload(o: { port: number; uiPort: number; dbFile: string; log: Log }): Promise<DevServer> {
  o.log('No Temporal CLI found and no Go toolchain: letting the Temporal SDK download the dev server…');
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      dbFilename: o.dbFile,
      port: o.port,
      ui: true,
      uiPort: o.uiPort,
      executable: { type: 'cached-download', downloadDir: join(projectRoot(), '.tools') },
    },
  }).catch((e: Error) => {
    throw new TemporalCliNotFoundError(`the SDK download failed: ${e.message}`);
  });
  return {
    address: env.address,
    uiUrl: `http://localhost:${o.uiPort}`,
    owned: true,
    embedded: true,
    stop: () => env.teardown(),
  };
}

/**
 * The server funnelcast talks to: TEMPORAL_ADDRESS when set (nothing is started), else the embedded dev server.
 */
export async function ensureServer(log: Log = stderrLog): Promise<DevServer> {
  const external = process.env.TEMPORAL_ADDRESS;
  if (external)
    return {
      address: external,
      uiUrl: process.env.TEMPORAL_UI_URL ?? '',
      owned: false,
      embedded: false,
      stop: async () => undefined,
    };
  // Found (or built) before any lock is taken: a first-run build takes minutes.
  if (findTemporalCli(log) === 'sdk-download') {
    const port = embeddedPort();
    return startWithSdkDownload({ port, uiPort: port + 1000, dbFile: paths.temporalDb(), log });
  }
  return startDevServer({ log });
}

/** For tests: the binary path to give TestWorkflowEnvironment as an `existing-path` executable. */
export function temporalCliForTests(): string {
  const cli = findTemporalCli();
  if (cli === 'sdk-download') throw new TemporalCliNotFoundError('tests need a local binary');
  return cli;
}

export function temporalNamespace(): string {
  return process.env.TEMPORAL_NAMESPACE ?? DEFAULT_NAMESPACE;
}

/**
 * TLS and credentials for an external cluster (Temporal Cloud, a self-hosted cluster behind mTLS), from the
 * environment as Temporal's own tools name them: TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY (client certificate files),
 * TEMPORAL_TLS_CA (server CA file), TEMPORAL_TLS=true (TLS with the system CAs), TEMPORAL_API_KEY. Nothing set and
 * the connection is plain, as the embedded dev server needs.
 */
export function temporalConnectionOptions(env: NodeJS.ProcessEnv = process.env): {
  tls?: { clientCertPair?: { crt: Buffer; key: Buffer }; serverRootCACertificate?: Buffer } | boolean;
  apiKey?: string;
} {
  const cert = env.TEMPORAL_TLS_CERT;
  const key = env.TEMPORAL_TLS_KEY;
  if (!!cert !== !!key) throw new Error('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together');
  const ca = env.TEMPORAL_TLS_CA;
  const apiKey = env.TEMPORAL_API_KEY || undefined;
  const tls =
    cert || ca
      ? {
          ...(cert ? { clientCertPair: { crt: readFileSync(cert), key: readFileSync(key!) } } : {}),
          ...(ca ? { serverRootCACertificate: readFileSync(ca) } : {}),
        }
      : env.TEMPORAL_TLS === 'true' || apiKey
        ? true
        : undefined;
  return { ...(tls ? { tls } : {}), ...(apiKey ? { apiKey } : {}) };
}
