/**
 * Temporal server provisioning for the embedded default.
 *
 * The Temporal CLI binary is looked for in this order: $TEMPORAL_CLI, `temporal` on PATH, the project's
 * git-ignored tools folder (.tools/bin), a build with `go install …@v1.5.1` into that folder (later tags have
 * `replace` directives that break `go install`), and last the SDK's own download (machines with internet).
 * `startDevServer` runs `temporal server start-dev` with a SQLite file under the state folder and stops it when
 * this process exits. When TEMPORAL_ADDRESS is set nothing is started: that server is used.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, openSync } from 'node:fs';
import { createConnection } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { projectRoot } from './root';
import { paths } from './paths';

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
  /** Whether this process started the server (and so stops it). */
  owned: boolean;
  stop(): Promise<void>;
}

export function embeddedPort(): number {
  return Number(process.env.FUNNELCAST_TEMPORAL_PORT ?? 7233);
}

/**
 * Starts `temporal server start-dev` (SQLite persistence under the state folder, Web UI on port+1000) and waits
 * until its frontend answers. If a server already answers on that port (another `funnelcast up`), it is reused.
 */
export async function startDevServer(opts: { port?: number; dbFile?: string; log?: Log } = {}): Promise<DevServer> {
  const log = opts.log ?? stderrLog;
  const port = opts.port ?? embeddedPort();
  const uiPort = port + 1000;
  const host = '127.0.0.1';
  const address = `${host}:${port}`;
  const uiUrl = `http://localhost:${uiPort}`;
  if (await portAnswers(host, port)) {
    return { address, uiUrl, owned: false, stop: async () => undefined };
  }
  const dbFile = opts.dbFile ?? paths.temporalDb();
  mkdirSync(dirname(dbFile), { recursive: true });
  const cli = findTemporalCli(log);
  if (cli === 'sdk-download') return startWithSdkDownload({ port, uiPort, dbFile, log });

  const logFile = join(dirname(dbFile), 'dev-server.log');
  const out = openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    cli,
    [
      'server',
      'start-dev',
      '--db-filename',
      dbFile,
      '--ip',
      host,
      '--port',
      String(port),
      '--ui-port',
      String(uiPort),
      '--log-level',
      'warn',
      '--namespace',
      DEFAULT_NAMESPACE,
    ],
    { stdio: ['ignore', out, out] },
  );
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? -1));
  const kill = () => {
    if (exited === null) child.kill('SIGTERM');
  };
  process.once('exit', kill);

  const deadline = Date.now() + 60_000;
  while (!(await portAnswers(host, port))) {
    if (exited !== null) throw new Error(`temporal server start-dev exited with code ${exited}; see ${logFile}`);
    if (Date.now() > deadline) {
      kill();
      throw new Error(`temporal server start-dev did not answer on ${address} within 60 s; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    address,
    uiUrl,
    owned: true,
    stop: async () => {
      process.removeListener('exit', kill);
      if (exited !== null) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
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
  return { address: env.address, uiUrl: `http://localhost:${o.uiPort}`, owned: true, stop: () => env.teardown() };
}

/**
 * The server funnelcast talks to: TEMPORAL_ADDRESS when set (nothing is started), else the embedded dev server.
 */
export async function ensureServer(log: Log = stderrLog): Promise<DevServer> {
  const external = process.env.TEMPORAL_ADDRESS;
  if (external)
    return { address: external, uiUrl: process.env.TEMPORAL_UI_URL ?? '', owned: false, stop: async () => undefined };
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
