/**
 * `npm run bench -- pipeline --stores [--sizes sample,1m]`: what the artifact store costs. The same pipeline
 * (pipelines/sample.json, on the bundled sample or on generated events) run three ways, each on fresh homes:
 *   local, 1 worker   `funnelcast run` (embedded Temporal server and worker, artifacts in FUNNELCAST_HOME)
 *   S3, 1 worker      the same with FUNNELCAST_STORE on a Versity Gateway: every step's inputs and outputs go
 *                     through the store
 *   S3, 3 workers     a Temporal dev server, worker A (workflows, io, warehouse, cpu) and workers B, C (cpu), each
 *                     with its own home and cache, and `funnelcast run --no-worker` as the client
 * Wall time of the `run` command, and the bytes each process put into and fetched from the store (the activities'
 * store boundary, FUNNELCAST_STORE_STATS). Target (issue 19): S3 ≤ 1.2× local at 1 M events. Results go to
 * bench/results/pipeline-stores.{json,md}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { row, type BenchRow } from '../harness';
import { projectRoot } from '../../infra/root';
import { startObjectServer, type ObjectServer } from '../../store/versitygw';
import { events, freePort, lastJsonObject, measure, pipelineFile } from './pipeline';

const MB = 1024 * 1024;
const bin = () => join(projectRoot(), 'bin', 'funnelcast.js');

interface Outcome {
  wallSeconds: number;
  ok: boolean;
  note: string;
  put: number;
  fetched: number;
}

/** The bundled sample as the bench's pipeline (name bench_sample), or a copy pointing at generated events. */
function definition(size: string, cache: string): string {
  if (size !== 'sample') return pipelineFile(size, events(size, cache), cache);
  const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8')) as Record<string, any>;
  def.name = 'bench_sample';
  def.sources.events.path = join(projectRoot(), 'data', 'sample', 'events.csv.gz');
  delete def.export;
  const file = join(cache, 'bench_sample.json');
  writeFileSync(file, JSON.stringify(def, null, 2));
  return file;
}

function bytesThroughStore(dir: string): { put: number; fetched: number } {
  let put = 0;
  let fetched = 0;
  for (const f of existsSync(dir) ? readdirSync(dir) : []) {
    const s = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { bytesPut: number; bytesFetched: number };
    put += s.bytesPut;
    fetched += s.bytesFetched;
  }
  return { put, fetched };
}

async function runOnce(file: string, env: Record<string, string>, stats: string, extra: string[] = []) {
  const m = await measure(process.execPath, [bin(), 'run', '--pipeline', file, '--json', ...extra], env);
  const printed = lastJsonObject(m.stdout) as { error?: string; model?: { holdout?: { roc_auc?: number } } } | null;
  const ok = m.code === 0 && !!printed && !printed.error;
  const auc = printed?.model?.holdout?.roc_auc;
  const note = ok ? `AUC ${auc?.toFixed(4) ?? '?'}` : `exit ${m.code}: ${printed?.error ?? m.stderr.slice(-300)}`;
  return { wallSeconds: m.wallSeconds, ok, note, ...bytesThroughStore(stats) };
}

function fresh(cache: string, name: string): string {
  const dir = join(cache, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

async function local(file: string, cache: string): Promise<Outcome> {
  const home = fresh(cache, 'home-local');
  const port = String(await freePort(Number(process.env.FUNNELCAST_BENCH_PORT ?? 7390)));
  const env = { FUNNELCAST_HOME: home, FUNNELCAST_TEMPORAL_PORT: port, FUNNELCAST_TASK_QUEUE: 'bench-local' };
  return runOnce(file, env, join(home, 'stats'));
}

async function s3One(file: string, cache: string, s3: ObjectServer): Promise<Outcome> {
  const home = fresh(cache, 'home-s3-1');
  const port = String(await freePort(Number(process.env.FUNNELCAST_BENCH_PORT ?? 7390)));
  const stats = join(home, 'stats');
  const env = {
    ...s3.env('one'),
    FUNNELCAST_HOME: home,
    FUNNELCAST_TEMPORAL_PORT: port,
    FUNNELCAST_TASK_QUEUE: 'bench-s3-1',
    FUNNELCAST_STORE_STATS: stats,
  };
  return runOnce(file, env, stats);
}

/** A Temporal dev server of its own (the three workers and the client reach it by TEMPORAL_ADDRESS). */
async function temporalServer(cache: string): Promise<{ address: string; child: ChildProcess }> {
  const port = await freePort(Number(process.env.FUNNELCAST_BENCH_PORT ?? 7390) + 100);
  const cliBin = process.env.TEMPORAL_CLI ?? join(projectRoot(), '.tools', 'bin', 'temporal');
  const child = spawn(
    cliBin,
    [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--ui-port',
      String(port + 1000),
      '--headless',
    ],
    { stdio: ['ignore', 'ignore', 'ignore'], cwd: cache },
  );
  const address = `127.0.0.1:${port}`;
  for (let i = 0; i < 120 && (await freePort(port)) === port; i++) await sleep(500);
  await sleep(2_000);
  return { address, child };
}

async function s3Three(file: string, cache: string, s3: ObjectServer): Promise<Outcome> {
  const root = fresh(cache, 'home-s3-3');
  const stats = join(root, 'stats');
  const server = await temporalServer(root);
  const common = {
    ...s3.env('three'),
    TEMPORAL_ADDRESS: server.address,
    FUNNELCAST_TASK_QUEUE: 'bench-s3-3',
    FUNNELCAST_STORE_STATS: stats,
  };
  const workers = [
    ['a', 'workflows,io,warehouse,cpu'],
    ['b', 'cpu'],
    ['c', 'cpu'],
  ].map(([name, queues]) => {
    const home = join(root, name!);
    return spawn(process.execPath, [bin(), 'worker', '--queues', queues!], {
      env: { ...process.env, ...common, FUNNELCAST_HOME: home, FUNNELCAST_CACHE: join(home, 'cache') },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  });
  try {
    await sleep(5_000); // the workers connect and poll before the run is started
    return await runOnce(file, { ...common, FUNNELCAST_HOME: join(root, 'client') }, stats, ['--no-worker']);
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))));
    server.child.kill('SIGTERM');
  }
}

export async function storeRuns(args: string[]): Promise<{ rows: BenchRow[]; notes: string[]; name: string }> {
  const at = args.indexOf('--sizes');
  const sizes = at >= 0 ? args[at + 1].split(',') : ['sample', '1m'];
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  for (const size of sizes) {
    const cache = join(projectRoot(), 'bench', '.cache', 'pipeline', size);
    mkdirSync(cache, { recursive: true });
    const file = definition(size, cache);
    const s3 = await startObjectServer({ dir: fresh(cache, 'versitygw'), bucket: 'bench' });
    try {
      console.error(`[pipeline --stores] ${size}: local store, 1 worker…`);
      const l = await local(file, cache);
      console.error(`[pipeline --stores] ${size}: S3 store, 1 worker…`);
      const one = await s3One(file, cache, s3);
      console.error(`[pipeline --stores] ${size}: S3 store, 3 workers…`);
      const three = await s3Three(file, cache, s3);
      const dataset = `${size === 'sample' ? 'bundled sample' : `generated-${size}`}`;
      for (const [name, o] of [
        ['local store, 1 worker', l],
        ['S3 store (Versity Gateway), 1 worker', one],
        ['S3 store (Versity Gateway), 3 workers', three],
      ] as const) {
        const ratio = name.startsWith('local') ? null : l.wallSeconds;
        rows.push(
          row({
            name: `run: ${name}`,
            dataset,
            metric: 'wall seconds',
            ours: o.wallSeconds,
            reference: ratio,
            referenceName: ratio ? 'local store, 1 worker' : undefined,
            better: 'lower',
            note: o.note,
          }),
        );
        rows.push(
          row({
            name: `run: ${name}`,
            dataset,
            metric: 'MB put into the store',
            ours: o.put / MB,
            reference: null,
            better: 'lower',
          }),
        );
        rows.push(
          row({
            name: `run: ${name}`,
            dataset,
            metric: 'MB fetched from the store',
            ours: o.fetched / MB,
            reference: null,
            better: 'lower',
          }),
        );
        if (!o.ok) notes.push(`${size}, ${name}: the run failed (${o.note})`);
      }
    } finally {
      await s3.stop();
    }
  }
  notes.push(
    'Each configuration on fresh homes (extract included, nothing reused). Wall time of `funnelcast run --json`; ratio = that / the local store with 1 worker (target ≤ 1.2 at 1 M events). Bytes: what the activities’ store boundary of every worker process put and fetched (FUNNELCAST_STORE_STATS), excluding the warehouse (it stays on the data worker) and training checkpoints.',
    '3 workers: a Temporal dev server of its own, worker A (workflows, io, warehouse, cpu), B and C (cpu), each with its own FUNNELCAST_HOME and cache; the client is `funnelcast run --no-worker` with TEMPORAL_ADDRESS. All on this one 2-core machine, so 3 workers add parallelism only where the run waits on I/O.',
  );
  return { rows, notes, name: 'pipeline-stores' };
}
