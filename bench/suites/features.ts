/**
 * `npm run bench -- features [millions…]`: extract + features on generated events (1M and 10M by default) and on
 * Online Retail, side by side in one run:
 *   ours         — extractPipeline + buildFeatures on a file-backed warehouse (validation, quarantine, dedupe,
 *                  accounting, ~35 features, sequences, funnel), in a child process so its peak RSS is its own;
 *   floor        — the very same SQL statements ours sent, replayed on a bare DuckDB connection (the issue's
 *                  "same load and feature SQL run directly, without the pipeline around it");
 *   pandas       — the same validation, dedupe, features and sequences in vectorised pandas (generated data);
 *   core         — DuckDB read_csv + six aggregates, and pandas doing the same: what the minimal job costs.
 * Targets (issue 3): ours ≤ 1.5× the floor, ≥ 10× faster than pandas, 10M events in < 60 s, peak RSS < 4 GiB.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { row, type BenchRow } from '../harness';
import { projectRoot } from '../../infra/root';
import { writeEventsCsv } from '../../data/generator';
import { quoteLiteral, withDuckDB } from '../../warehouse/db';

const CUTOFF = '2024-04-01T00:00:00Z';

function generatedPipeline(file: string): Record<string, unknown> {
  return {
    name: 'bench',
    sources: {
      events: {
        path: file,
        columns: {
          user_id: 'user_id',
          ts: 'timestamp',
          event: 'event',
          item_id: 'item_id',
          revenue: 'revenue',
          session_id: 'session_id',
        },
        eventTypes: ['view', 'addtocart', 'transaction'],
      },
    },
    label: { event: 'transaction', horizon: '30d' },
    features: { funnel: ['view', 'addtocart', 'transaction'] },
  };
}

/** The minimal job: read_csv into a table and six aggregates per user, nothing else. */
async function core(file: string, ts: string, uid: string, revenue: string, event = 'event'): Promise<number> {
  const t = performance.now();
  await withDuckDB(':memory:', async (conn) => {
    await conn.run(`SET TimeZone = 'UTC'`);
    await conn.run(
      `CREATE TABLE ev AS SELECT CAST(${uid} AS VARCHAR) AS user_id, CAST(${ts} AS TIMESTAMP) AS ts, ${event} AS event, ${revenue} AS revenue FROM read_csv(${quoteLiteral(file)}) WHERE ${uid} IS NOT NULL`,
    );
    await conn.run(
      `COPY (SELECT user_id, count(*) AS n, sum(revenue) AS revenue, count(DISTINCT CAST(ts AS DATE)) AS days,
                    count(*) FILTER (WHERE ts >= TIMESTAMP '${CUTOFF}' - INTERVAL 7 DAY) AS n7,
                    count(*) FILTER (WHERE ts >= TIMESTAMP '${CUTOFF}' - INTERVAL 30 DAY) AS n30,
                    (epoch_ms(TIMESTAMP '${CUTOFF}') - epoch_ms(max(ts))) / 86400000.0 AS recency
             FROM ev WHERE ts < TIMESTAMP '${CUTOFF}' GROUP BY user_id) TO '/dev/null' (FORMAT parquet)`,
    );
  });
  return (performance.now() - t) / 1000;
}

function child(args: string[]): { seconds: number; maxRssMB: number; read?: number; users?: number } {
  const r = spawnSync(process.execPath, [join(__dirname, 'features-child.js'), ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`features-child ${args[0]} failed (exit ${r.status})`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as ReturnType<typeof child>;
}

/** ours, then the replay of its statements (the floor), each in its own process. */
function oursAndFloor(name: string, pipeline: Record<string, unknown>, cutoff: string, cache: string) {
  const pipelineFile = join(cache, `${name}.pipeline.json`);
  writeFileSync(pipelineFile, JSON.stringify(pipeline));
  const statements = join(cache, `${name}.statements.json`);
  const ours = child([
    'ours',
    pipelineFile,
    cutoff,
    join(cache, `${name}.duckdb`),
    join(cache, `features-${name}`),
    statements,
  ]);
  const floor = child(['replay', statements, join(cache, `${name}.floor.duckdb`)]);
  return { ours, floor };
}

let venvPython: string | null | undefined;
/** The bench venv's python (created once per run), or null when Python is unavailable. */
function python(packages: string[]): string | null {
  if (venvPython !== undefined) return venvPython;
  const venv = spawnSync('bash', [join(projectRoot(), 'bench', 'python', 'ensure-venv.sh'), ...packages], {
    encoding: 'utf8',
  });
  venvPython = venv.status === 0 ? venv.stdout.trim().split('\n').at(-1)! : null;
  return venvPython;
}

function pyRun(script: string, args: string[]): number | null {
  const py = python(['pandas', 'pyarrow']);
  if (!py) return null;
  const r = spawnSync(py, [join(projectRoot(), 'bench', 'python', script), ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) {
    console.error(r.stderr);
    return null;
  }
  return Number(JSON.parse(r.stdout.trim().split('\n').at(-1)!).seconds);
}

export async function run(args: string[]): Promise<{ rows: BenchRow[]; notes: string[] }> {
  const millions = args.length ? args.map(Number) : [1, 10];
  const notes: string[] = [
    'ours = extract + features on a file-backed warehouse, in its own process (peak RSS is that process’s maxRSS).',
    'floor = the same SQL statements ours sent, replayed on a bare DuckDB connection: ratio = the cost of the pipeline around the SQL (file hashing, statement building, accounting reads).',
    'pandas = the same validation, dedupe, features and sequences in vectorised pandas (bench/python/features_pandas_full.py), from the file to Parquet.',
    'core = only read_csv + six per-user aggregates, in DuckDB and in pandas: a lower bound, not the same work.',
  ];
  const rows: BenchRow[] = [];
  const cache = join(projectRoot(), 'bench', '.cache');
  mkdirSync(cache, { recursive: true });
  const seconds = (ds: string, ours: number, reference: number | null, referenceName: string, note?: string) =>
    rows.push(
      row({
        name: 'extract+features',
        dataset: ds,
        metric: 'seconds',
        ours,
        reference,
        referenceName,
        better: 'lower',
        note,
      }),
    );
  for (const m of millions) {
    // ~2.3 events per user at engagement 1, as RetailRocket.
    const users = Math.round((m * 1e6) / 2.33);
    const file = join(cache, `events-${m}M.csv.gz`);
    if (!existsSync(file)) await writeEventsCsv(file, { users, seed: 1, days: 120, start: '2024-01-01T00:00:00Z' });
    const { ours, floor } = oursAndFloor(`gen-${m}M`, generatedPipeline(file), CUTOFF, cache);
    const pdOut = join(cache, `pandas-${m}M`);
    mkdirSync(pdOut, { recursive: true });
    const pd = pyRun('features_pandas_full.py', [file, CUTOFF, '30', pdOut]);
    const coreDuck = await core(file, 'timestamp', 'user_id', 'TRY_CAST(revenue AS DOUBLE)');
    const corePd = pyRun('features_pandas.py', [file, 'timestamp', 'user_id', 'revenue', CUTOFF]);
    const ds = `generated ${m}M events (${ours.read!.toLocaleString('en-US')} rows)`;
    console.error(
      `${ds}: ours ${ours.seconds.toFixed(1)} s (${ours.maxRssMB.toFixed(0)} MB), floor ${floor.seconds.toFixed(1)} s, pandas ${pd?.toFixed(1)} s, core ${coreDuck.toFixed(1)} / ${corePd?.toFixed(1)} s`,
    );
    seconds(ds, ours.seconds, floor.seconds, 'floor: same SQL, bare connection');
    seconds(ds, ours.seconds, pd, 'pandas, same work', pd == null ? 'pandas unavailable' : undefined);
    seconds(ds, coreDuck, corePd, 'core only: DuckDB (ours column) vs pandas');
    rows.push(
      row({
        name: 'extract+features',
        dataset: ds,
        metric: 'peak RSS MB',
        ours: ours.maxRssMB,
        reference: 4096,
        referenceName: 'target 4 GiB',
        better: 'lower',
      }),
    );
  }
  const retail = join(projectRoot(), '..', 'shared', 'datasets', 'online_retail', 'online_retail.csv.gz');
  if (existsSync(retail)) {
    const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'online_retail.json'), 'utf8')) as {
      sources: { events: { path: string } };
    };
    def.sources.events.path = retail;
    const { ours, floor } = oursAndFloor('online-retail', def, '2011-09-01T00:00:00Z', cache);
    const ds = 'Online Retail (541,909 rows)';
    seconds(ds, ours.seconds, floor.seconds, 'floor: same SQL, bare connection');
    const coreDuck = await core(retail, 'InvoiceDate', 'CustomerID', 'Quantity * UnitPrice', "'purchase'");
    const corePd = pyRun('features_pandas.py', [retail, 'InvoiceDate', 'CustomerID', 'Quantity*UnitPrice', CUTOFF]);
    seconds(ds, ours.seconds, corePd, 'pandas, core only (not the same work)');
    seconds(ds, coreDuck, corePd, 'core only: DuckDB (ours column) vs pandas');
  } else notes.push('Online Retail: ../shared/datasets absent, skipped');
  writeFileSync(join(cache, 'features-bench.done'), new Date().toISOString());
  return { rows, notes };
}
