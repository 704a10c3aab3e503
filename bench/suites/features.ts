/**
 * `npm run bench -- features [millions…]`: extract + features on generated events (1M and 10M by default) and on
 * Online Retail, three ways in one run:
 *   ours      — extractPipeline + buildFeatures (validation, quarantine, dedupe, accounting, all features);
 *   floor     — the same load and a core of the same feature SQL run directly on a DuckDB connection;
 *   pandas    — the same core features in pandas (bench venv), where Python is available.
 * Targets (issue 3): ours ≤ 1.5× the floor, ≥ 10× faster than pandas, 10M events in < 60 s, peak RSS < 4 GiB.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { row, type BenchRow } from '../harness';
import { projectRoot } from '../../infra/root';
import { writeEventsCsv } from '../../data/generator';
import { parsePipeline, loadPipeline, type LoadedPipeline } from '../../pipelines/load';
import { quoteLiteral, withDuckDB } from '../../warehouse/db';
import { extractPipeline } from '../../warehouse/extract';
import { buildFeatures } from '../../warehouse/features';

const CUTOFF = '2024-04-01T00:00:00Z';

function generatedPipeline(file: string): LoadedPipeline {
  const def = parsePipeline({
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
  });
  return { definition: def, file, baseDir: '/', hash: 'bench' };
}

/** The floor: read_csv into a table and the core aggregate features, nothing else. */
async function floor(file: string, ts: string, uid: string, revenue: string, event = 'event'): Promise<number> {
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

async function ours(
  loaded: LoadedPipeline,
  cutoff: string,
  out: string,
): Promise<{ seconds: number; read: number; users: number }> {
  const t = performance.now();
  const r = await withDuckDB(':memory:', async (conn) => {
    const s = await extractPipeline(conn, loaded);
    const f = await buildFeatures(conn, loaded.definition, { cutoff: new Date(cutoff), outDir: out });
    return { read: s.sources[0].read, users: f.users };
  });
  return { seconds: (performance.now() - t) / 1000, ...r };
}

function pandas(file: string, ts: string, uid: string, revenue: string): number | null {
  const venv = spawnSync('bash', [join(projectRoot(), 'bench', 'python', 'ensure-venv.sh'), 'pandas', 'pyarrow'], {
    encoding: 'utf8',
  });
  if (venv.status !== 0) return null;
  const py = venv.stdout.trim().split('\n').at(-1)!;
  const r = spawnSync(
    py,
    [join(projectRoot(), 'bench', 'python', 'features_pandas.py'), file, ts, uid, revenue, CUTOFF],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  return r.status === 0 ? Number(JSON.parse(r.stdout.trim().split('\n').at(-1)!).seconds) : null;
}

export async function run(args: string[]): Promise<{ rows: BenchRow[]; notes: string[] }> {
  const millions = args.length ? args.map(Number) : [1, 10];
  const notes: string[] = [
    'floor = read_csv + a core of the feature SQL (counts, windows, recency, revenue) on a bare DuckDB connection; ours additionally validates every row, quarantines, deduplicates, accounts, and computes ~35 features, sequences and the funnel.',
    'pandas computes the same core features as the floor (not the full set).',
  ];
  const rows: BenchRow[] = [];
  const cache = join(projectRoot(), 'bench', '.cache');
  mkdirSync(cache, { recursive: true });
  for (const m of millions) {
    // ~2.3 events per user at engagement 1, as RetailRocket.
    const users = Math.round((m * 1e6) / 2.33);
    const file = join(cache, `events-${m}M.csv.gz`);
    if (!existsSync(file)) await writeEventsCsv(file, { users, seed: 1, days: 120, start: '2024-01-01T00:00:00Z' });
    const o = await ours(generatedPipeline(file), CUTOFF, join(cache, `features-${m}M`));
    const fl = await floor(file, 'timestamp', 'user_id', 'TRY_CAST(revenue AS DOUBLE)');
    const pd = pandas(file, 'timestamp', 'user_id', 'revenue');
    const ds = `generated ${m}M events (${o.read.toLocaleString('en-US')} rows)`;
    console.error(`${ds}: ours ${o.seconds.toFixed(1)} s, floor ${fl.toFixed(1)} s, pandas ${pd?.toFixed(1)} s`);
    rows.push(
      row({
        name: 'extract+features',
        dataset: ds,
        metric: 'seconds',
        ours: o.seconds,
        reference: fl,
        referenceName: 'DuckDB floor',
        better: 'lower',
      }),
    );
    rows.push(
      row({
        name: 'extract+features',
        dataset: ds,
        metric: 'seconds',
        ours: o.seconds,
        reference: pd,
        referenceName: 'pandas (core features)',
        better: 'lower',
        note: pd == null ? 'pandas unavailable' : undefined,
      }),
    );
    rows.push(
      row({
        name: 'extract+features',
        dataset: ds,
        metric: 'peak RSS MB (bench process)',
        ours: process.resourceUsage().maxRSS / 1024,
        reference: 4096,
        referenceName: 'target 4 GiB',
        better: 'lower',
      }),
    );
  }
  const retail = join(projectRoot(), '..', 'shared', 'datasets', 'online_retail', 'online_retail.csv.gz');
  if (existsSync(retail)) {
    const o = await ours(loadPipeline('online_retail'), '2011-09-01T00:00:00Z', join(cache, 'features-online-retail'));
    const fl = await floor(retail, 'InvoiceDate', 'CustomerID', 'Quantity * UnitPrice', "'purchase'");
    const pd = pandas(retail, 'InvoiceDate', 'CustomerID', 'Quantity*UnitPrice');
    rows.push(
      row({
        name: 'extract+features',
        dataset: 'Online Retail (541,909 rows)',
        metric: 'seconds',
        ours: o.seconds,
        reference: fl,
        referenceName: 'DuckDB floor',
        better: 'lower',
      }),
    );
    rows.push(
      row({
        name: 'extract+features',
        dataset: 'Online Retail (541,909 rows)',
        metric: 'seconds',
        ours: o.seconds,
        reference: pd,
        referenceName: 'pandas (core features)',
        better: 'lower',
      }),
    );
  } else notes.push('Online Retail: ../shared/datasets absent, skipped');
  writeFileSync(join(cache, 'features-bench.done'), new Date().toISOString());
  return { rows, notes };
}
