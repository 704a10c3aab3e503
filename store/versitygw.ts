/**
 * The S3-compatible server for tests and `funnelcast up --store local-s3`: Versity Gateway (Apache-2.0), which
 * serves S3 over a POSIX folder. Found like the Temporal CLI: $VERSITYGW, `versitygw` on PATH, .tools/bin, else
 * built once with `go install …@v1.8.0` into .tools/bin. `startObjectServer` runs it as a child of this process on
 * a free port, creates the bucket, and stops it on `stop()` or when this process exits.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { toolsBinDir, portAnswers, type Log } from '../infra/temporal';

export const VERSITYGW_MODULE = 'github.com/versity/versitygw/cmd/versitygw@v1.8.0';

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const onPath = (cmd: string) =>
  (process.env.PATH ?? '')
    .split(delimiter)
    .map((d) => join(d, cmd))
    .find((p) => p.startsWith('/') && executable(p));

/** The versitygw binary, built with Go into .tools/bin the first time (a few minutes on 2 cores). */
export function findVersityGw(log: Log = (m) => process.stderr.write(`${m}\n`)): string {
  if (process.env.VERSITYGW) {
    if (!executable(process.env.VERSITYGW)) throw new Error(`VERSITYGW=${process.env.VERSITYGW} is not executable`);
    return process.env.VERSITYGW;
  }
  const found =
    onPath('versitygw') ?? (executable(join(toolsBinDir(), 'versitygw')) && join(toolsBinDir(), 'versitygw'));
  if (found) return found;
  const go = onPath('go');
  if (!go)
    throw new Error(
      `no versitygw binary and no Go toolchain: install Go >= 1.24 and run "GOBIN=${toolsBinDir()} go install ` +
        `${VERSITYGW_MODULE}", or set VERSITYGW=/path/to/versitygw`,
    );
  log(`Building Versity Gateway into ${toolsBinDir()} (first run only)…`);
  mkdirSync(toolsBinDir(), { recursive: true });
  const res = spawnSync(go, ['install', VERSITYGW_MODULE], {
    env: { ...process.env, GOBIN: toolsBinDir() },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const built = join(toolsBinDir(), 'versitygw');
  if (res.status !== 0 || !executable(built))
    throw new Error(`go install ${VERSITYGW_MODULE} failed (exit ${res.status})`);
  return built;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface ObjectServer {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** The environment a funnelcast process needs to use this server as FUNNELCAST_STORE. */
  env(prefix?: string): Record<string, string>;
  /** CPU seconds the server has used so far (user + system; NaN where /proc is not there): its share of a run. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** A process's user + system CPU seconds from /proc/<pid>/stat (clock ticks of 1/100 s on Linux). */
function procCpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // the name may hold spaces
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime: fields 14 and 15 of the line
  } catch {
    return NaN;
  }
}

/** Starts versitygw over `dir` (its objects are files there) and creates `bucket`. */
export async function startObjectServer(o: { dir: string; bucket: string; port?: number }): Promise<ObjectServer> {
  const bin = findVersityGw();
  const port = o.port ?? (await freePort());
  const accessKey = 'funnelcast';
  const secretKey = 'funnelcast-local-secret';
  mkdirSync(o.dir, { recursive: true });
  const log = openSync(join(o.dir, '..', `versitygw-${port}.log`), 'a');
  const child = spawn(
    bin,
    ['--access', accessKey, '--secret', secretKey, '--port', `127.0.0.1:${port}`, 'posix', o.dir],
    {
      stdio: ['ignore', log, log],
    },
  );
  const kill = () => child.kill('SIGTERM');
  process.once('exit', kill);
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (!(await portAnswers('127.0.0.1', port))) {
    if (child.exitCode !== null) throw new Error(`versitygw exited at once (code ${child.exitCode}); see its log`);
    if (Date.now() > deadline) {
      kill();
      throw new Error(`versitygw did not answer on ${endpoint} within 30 s`);
    }
    await sleep(100);
  }
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
  });
  await client
    .send(new CreateBucketCommand({ Bucket: o.bucket }))
    .catch((e: Error) => {
      // A restart over the same folder finds its bucket there.
      if (e.name !== 'BucketAlreadyOwnedByYou' && e.name !== 'BucketAlreadyExists') throw e;
    })
    .finally(() => client.destroy());
  return {
    endpoint,
    accessKey,
    secretKey,
    bucket: o.bucket,
    env: (prefix = 'funnelcast') => ({
      FUNNELCAST_STORE: `s3://${o.bucket}/${prefix}`,
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_ACCESS_KEY_ID: accessKey,
      AWS_SECRET_ACCESS_KEY: secretKey,
      AWS_REGION: 'us-east-1',
    }),
    cpuSeconds: () => procCpuSeconds(child.pid),
    stop: async () => {
      process.off('exit', kill);
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      kill();
      await exited;
    },
  };
}
