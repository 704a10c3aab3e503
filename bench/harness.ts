/**
 * Shared shape of every benchmark suite: each row compares ours with a reference (scikit-learn, PyTorch,
 * pandas, a raw DuckDB floor, ml-random-forest…) measured in the same run. `ratio` = ours / reference, so for
 * times lower is better and for throughputs and AUCs higher is better; `better` says which.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BenchRow {
  name: string;
  dataset: string;
  metric: string;
  ours: number | null;
  reference: number | null;
  /** ours / reference, null when either side did not run. */
  ratio: number | null;
  /** Which reference (e.g. "scikit-learn 1.5 n_jobs=2"). */
  referenceName?: string;
  better?: 'lower' | 'higher';
  note?: string;
}

export function row(r: Omit<BenchRow, 'ratio'>): BenchRow {
  const ratio = r.ours != null && r.reference != null && r.reference !== 0 ? r.ours / r.reference : null;
  return { ...r, ratio };
}

export interface SuiteResult {
  suite: string;
  startedAt: string;
  machine: { cpus: number; node: string; platform: string };
  rows: BenchRow[];
  notes: string[];
}

const fmt = (v: number | null) =>
  v == null ? '—' : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3);

/**
 * Rows of data sets this run did not measure, kept from the suite's previous results file with a note saying when
 * they were measured, so a run of one size does not erase the others (suites run one size at a time here).
 */
export function earlierRows(suite: string, now: BenchRow[], notes: string[]): BenchRow[] {
  const file = join(process.cwd(), 'bench', 'results', `${suite}.json`);
  if (!existsSync(file)) return [];
  const before = JSON.parse(readFileSync(file, 'utf8')) as { startedAt: string; rows: BenchRow[]; notes?: string[] };
  // A row is replaced by this run's row of the same name, data set, metric and reference.
  const key = (r: BenchRow) => JSON.stringify([r.name, r.dataset, r.metric, r.referenceName]);
  const measured = new Set(now.map(key));
  const kept = before.rows.filter((r) => !measured.has(key(r)));
  // Rows already kept once keep the date of the run that measured them, not of the file they passed through.
  const said = (set: string) => before.notes?.find((n) => n.startsWith(`${set}: rows this run did not measure`));
  for (const set of new Set(kept.map((r) => r.dataset)))
    notes.push(said(set) ?? `${set}: rows this run did not measure are kept from the results of ${before.startedAt}.`);
  return kept;
}

export function writeResults(
  result: SuiteResult,
  dir = join(process.cwd(), 'bench', 'results'),
): { json: string; md: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, `${result.suite}.json`);
  const md = join(dir, `${result.suite}.md`);
  writeFileSync(json, JSON.stringify(result, null, 2) + '\n');
  const lines = [
    `# bench: ${result.suite}`,
    '',
    `Run ${result.startedAt} on ${result.machine.cpus} cores, Node ${result.machine.node}. ratio = ours / reference.`,
    '',
    '| name | dataset | metric | ours | reference | ratio | reference is | note |',
    '|---|---|---|---:|---:|---:|---|---|',
    ...result.rows.map(
      (r) =>
        `| ${r.name} | ${r.dataset} | ${r.metric}${r.better ? ` (${r.better} is better)` : ''} | ${fmt(r.ours)} | ${fmt(r.reference)} | ${fmt(r.ratio)} | ${r.referenceName ?? ''} | ${r.note ?? ''} |`,
    ),
    '',
    ...result.notes.map((n) => `- ${n}`),
    '',
  ];
  writeFileSync(md, lines.join('\n'));
  return { json, md };
}
