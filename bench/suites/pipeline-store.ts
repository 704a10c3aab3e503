/**
 * `npm run bench -- pipeline --stores [--sizes sample,1m]`: what the artifact store costs. The same pipeline
 * (pipelines/sample.json, on the bundled sample or on generated events) run three ways, each on fresh homes:
 *   local, 1 worker   `funnelcast run` (embedded Temporal server and worker, artifacts in FUNNELCAST_HOME)
 *   S3, 1 worker      the same with FUNNELCAST_STORE on a Versity Gateway: every step's inputs and outputs go
 *                     through the store
 *   S3, 3 workers     a Temporal dev server, worker A (workflows, io, warehouse, cpu) and workers B, C (cpu), each
 *                     with its own home and cache, and `funnelcast run --no-worker` as the client
 * Wall time of the `run` command, and the bytes each process put into and fetched from the store (the activities'
 * store boundary, FUNNELCAST_STORE_STATS), in total and per step (store calls, seconds, bytes, files hashed).
 * `--rounds N` alternates local and S3 (1 worker) N times and reports medians, for a machine whose load moves.
 * Target (issue 19): S3 ≤ 1.2× local at 1 M events. Results go to bench/results/pipeline-stores.{json,md}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { row, type BenchRow } from '../harness';
import { projectRoot } from '../../infra/root';
import { emptyStepStats, type StepStoreStats } from '../../store/counting';
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
  steps: Record<string, StepStoreStats>;
  /** CPU seconds the gateway used during the run: S3's cost that no client-side count sees. */
  gatewayCpu?: number;
}

/** A run on the gateway, with the CPU the gateway spent meanwhile (it shares the machine's cores with the run). */
async function withGatewayCpu(s3: ObjectServer, run: () => Promise<Outcome>): Promise<Outcome> {
  const before = s3.cpuSeconds();
  const o = await run();
  return { ...o, gatewayCpu: s3.cpuSeconds() - before };
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

/** What every process of a run put and fetched (FUNNELCAST_STORE_STATS), in total and per step. */
function storeTraffic(dir: string): Pick<Outcome, 'put' | 'fetched' | 'steps'> {
  let put = 0;
  let fetched = 0;
  const steps: Record<string, StepStoreStats> = {};
  for (const f of existsSync(dir) ? readdirSync(dir) : []) {
    const s = JSON.parse(readFileSync(join(dir, f), 'utf8')) as {
      bytesPut: number;
      bytesFetched: number;
      steps?: Record<string, StepStoreStats>;
    };
    put += s.bytesPut;
    fetched += s.bytesFetched;
    for (const [name, st] of Object.entries(s.steps ?? {})) {
      const sum = (steps[name] ??= emptyStepStats());
      for (const k of Object.keys(sum) as (keyof StepStoreStats)[]) sum[k] += st[k] ?? 0;
    }
  }
  return { put, fetched, steps };
}

async function runOnce(file: string, env: Record<string, string>, stats: string, extra: string[] = []) {
  const m = await measure(process.execPath, [bin(), 'run', '--pipeline', file, '--json', ...extra], env);
  const printed = lastJsonObject(m.stdout) as { error?: string; model?: { holdout?: { roc_auc?: number } } } | null;
  const ok = m.code === 0 && !!printed && !printed.error;
  const auc = printed?.model?.holdout?.roc_auc;
  const note = ok ? `AUC ${auc?.toFixed(4) ?? '?'}` : `exit ${m.code}: ${printed?.error ?? m.stderr.slice(-300)}`;
  return { wallSeconds: m.wallSeconds, ok, note, ...storeTraffic(stats) };
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

async function s3One(file: string, cache: string, s3: ObjectServer, round = 1): Promise<Outcome> {
  const home = fresh(cache, 'home-s3-1');
  const port = String(await freePort(Number(process.env.FUNNELCAST_BENCH_PORT ?? 7390)));
  const stats = join(home, 'stats');
  const env = {
    ...s3.env(`one-${round}`),
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

const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};

/**
 * `--rounds N` (default 1): the local store and S3 with 1 worker run alternately N times (local, S3, local, S3…),
 * so a change of the machine's load falls on both, and each is reported by its median; S3 with 3 workers runs
 * once, after them.
 */
export async function storeRuns(args: string[]): Promise<{ rows: BenchRow[]; notes: string[]; name: string }> {
  const opt = (name: string) => (args.indexOf(name) >= 0 ? args[args.indexOf(name) + 1] : undefined);
  const sizes = (opt('--sizes') ?? 'sample,1m').split(',');
  const rounds = Number(opt('--rounds') ?? 1);
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  for (const size of sizes) {
    const cache = join(projectRoot(), 'bench', '.cache', 'pipeline', size);
    mkdirSync(cache, { recursive: true });
    const file = definition(size, cache);
    const s3 = await startObjectServer({ dir: fresh(cache, 'versitygw'), bucket: 'bench' });
    const locals: Outcome[] = [];
    const ones: Outcome[] = [];
    try {
      for (let r = 1; r <= rounds; r++) {
        console.error(`[pipeline --stores] ${size}, round ${r}/${rounds}: local store, 1 worker…`);
        locals.push(await local(file, cache));
        console.error(`[pipeline --stores] ${size}, round ${r}/${rounds}: S3 store, 1 worker…`);
        ones.push(await withGatewayCpu(s3, () => s3One(file, cache, s3, r)));
      }
      console.error(`[pipeline --stores] ${size}: S3 store, 3 workers…`);
      const three = await withGatewayCpu(s3, () => s3Three(file, cache, s3));
      rows.push(...sizeRows(size, locals, ones, three));
      for (const o of [...locals, ...ones, three]) if (!o.ok) notes.push(`${size}: a run failed (${o.note})`);
      if (rounds > 1)
        notes.push(
          `${size}: ${rounds} rounds, local and S3 (1 worker) alternating; wall seconds local ` +
            `${locals.map((o) => o.wallSeconds.toFixed(1)).join(', ')}; S3 ${ones.map((o) => o.wallSeconds.toFixed(1)).join(', ')}` +
            ` (rows: medians; store traffic of the last S3 round).`,
        );
    } finally {
      await s3.stop();
    }
  }
  notes.push(
    'Each configuration on fresh homes (extract included, nothing reused). Wall time of `funnelcast run --json`; ratio = that / the local store with 1 worker (target ≤ 1.2 at 1 M events). Bytes: what the activities’ store boundary of every worker process put and fetched (FUNNELCAST_STORE_STATS), excluding the warehouse (it stays on the data worker); training checkpoints and the registry have rows of their own below.',
    '3 workers: a Temporal dev server of its own, worker A (workflows, io, warehouse, cpu), B and C (cpu), each with its own FUNNELCAST_HOME and cache; the client is `funnelcast run --no-worker` with TEMPORAL_ADDRESS. All on this one 2-core machine, so 3 workers add parallelism only where the run waits on I/O.',
    'store step rows: per activity, summed over its executions and every worker process: `ours` = seconds the store boundary took around it (fetching inputs, walking and hashing run folders, putting outputs); the note gives the store calls (put/get/head/list/delete), MB moved and the files hashed. `<step> checkpoints` (training checkpoints: restore, uploads while training, deletion at the end) and `<step> registry` (the model registry in the store) are store calls made beside the boundary: `ours` = seconds in those calls. gateway CPU seconds: user + system CPU of the Versity Gateway process during the run (/proc), on the same cores as the run.',
  );
  return { rows, notes, name: 'pipeline-stores' };
}

function sizeRows(size: string, locals: Outcome[], ones: Outcome[], three: Outcome): BenchRow[] {
  const dataset = size === 'sample' ? 'bundled sample' : `generated-${size}`;
  const localWall = median(locals.map((o) => o.wallSeconds));
  const rows: BenchRow[] = [];
  for (const [name, runs] of [
    ['local store, 1 worker', locals],
    ['S3 store (Versity Gateway), 1 worker', ones],
    ['S3 store (Versity Gateway), 3 workers', [three]],
  ] as const) {
    const o = runs[runs.length - 1]!;
    const reference = name.startsWith('local') ? null : localWall;
    const common = { name: `run: ${name}`, dataset, better: 'lower' as const };
    rows.push(
      row({
        ...common,
        metric: runs.length > 1 ? `wall seconds (median of ${runs.length})` : 'wall seconds',
        ours: median(runs.map((r) => r.wallSeconds)),
        reference,
        referenceName: reference ? 'local store, 1 worker' : undefined,
        note: o.note,
      }),
      row({ ...common, metric: 'MB put into the store', ours: o.put / MB, reference: null }),
      row({ ...common, metric: 'MB fetched from the store', ours: o.fetched / MB, reference: null }),
    );
    if (o.gatewayCpu !== undefined)
      rows.push(row({ ...common, metric: 'gateway CPU seconds', ours: o.gatewayCpu, reference: null }));
    if (!name.startsWith('local')) rows.push(...stepRows(`${name}`, dataset, o.steps));
  }
  return rows;
}

function stepRows(config: string, dataset: string, steps: Record<string, StepStoreStats>): BenchRow[] {
  // `<step> checkpoints` / `<step> registry` rows are store calls made beside the boundary: no boundary time.
  const cost = (s: StepStoreStats) => (s.calls ? s.boundarySeconds : s.storeSeconds);
  return Object.entries(steps)
    .sort(([, a], [, b]) => cost(b) - cost(a))
    .map(([step, s]) =>
      row({
        name: `store step: ${step} (${config})`,
        dataset,
        metric: s.calls ? 'store boundary seconds' : 'seconds in store calls',
        ours: cost(s),
        reference: null,
        better: 'lower',
        note:
          `${s.calls} call(s); store ${s.storeSeconds.toFixed(2)} s: put ${s.put}, get ${s.get}, head ${s.head}, ` +
          `list ${s.list}, delete ${s.delete ?? 0}; ${(s.bytesPut / MB).toFixed(1)} MB put, ` +
          `${(s.bytesGot / MB).toFixed(1)} MB got; hashed ${s.hashed} file(s), ${(s.bytesHashed / MB).toFixed(1)} MB`,
      }),
    );
}
