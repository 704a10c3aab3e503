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
  /** When a side was measured, if by an earlier run than the file's (mergeEarlier took it from there). */
  oursAt?: string;
  referenceAt?: string;
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

interface Earlier {
  startedAt: string;
  rows: BenchRow[];
  notes?: string[];
}

function readEarlier(suite: string, dir: string): Earlier | null {
  const file = join(dir, `${suite}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Earlier) : null;
}

const resultsDir = () => join(process.cwd(), 'bench', 'results');

/**
 * Rows of data sets this run did not measure, kept from the suite's previous results file with a note saying when
 * they were measured, so a run of one size does not erase the others (suites run one size at a time here).
 */
export function earlierRows(suite: string, now: BenchRow[], notes: string[], dir = resultsDir()): BenchRow[] {
  const before = readEarlier(suite, dir);
  return before ? kept(before, now, notes, new Set()) : [];
}

/** `drop`: earlier rows already merged into this run's rows (mergeEarlier), not to be kept beside them. */
function kept(before: Earlier, now: BenchRow[], notes: string[], drop: ReadonlySet<BenchRow>): BenchRow[] {
  // A row is replaced by this run's row of the same name, data set, metric and reference.
  const key = (r: BenchRow) => JSON.stringify([r.name, r.dataset, r.metric, r.referenceName]);
  const measured = new Set(now.map(key));
  const rows = before.rows.filter((r) => !measured.has(key(r)) && !drop.has(r));
  // Rows already kept once keep the date of the run that measured them, not of the file they passed through.
  const said = (set: string) => before.notes?.find((n) => n.startsWith(`${set}: rows this run did not measure`));
  for (const set of new Set(rows.map((r) => r.dataset)))
    notes.push(said(set) ?? `${set}: rows this run did not measure are kept from the results of ${before.startedAt}.`);
  return rows;
}

/**
 * This run's rows completed from the previous results, then the earlier rows it did not measure (earlierRows).
 * A side this run left empty (`--no-reference`, or a reference-only run) is taken from the earlier row of the same
 * name, data set and metric, with the date it was measured (`referenceAt`/`oursAt`), and the ratio is recomputed:
 * the pipeline reference takes 20–40 minutes at 10 M events, so it is measured alone, once, and later runs of
 * ours still show it and the ratio.
 */
export function mergeEarlier(suite: string, now: BenchRow[], notes: string[], dir = resultsDir()): BenchRow[] {
  const before = readEarlier(suite, dir);
  if (!before) return now;
  const key = (r: BenchRow) => JSON.stringify([r.name, r.dataset, r.metric]);
  const byKey = new Map<string, BenchRow[]>();
  for (const r of before.rows) byKey.set(key(r), [...(byKey.get(key(r)) ?? []), r]);
  const used = new Set<BenchRow>();
  const merged = now.map((r) => {
    const same = byKey.get(key(r)) ?? [];
    const ref = r.reference == null ? same.find((e) => e.reference != null) : undefined;
    const ours =
      r.ours == null
        ? same.find((e) => e.ours != null && (e.referenceName ?? r.referenceName) === r.referenceName)
        : undefined;
    // Earlier rows of ours alone stand for the same figure as this row, whatever side it has: a run measuring both
    // sides after a --no-reference one kept those beside its own (the same metric twice).
    for (const x of same) if (!x.referenceName) used.add(x);
    if (!ref && !ours) return r;
    // The rows it came from, and earlier rows of ours alone (no reference) that the merged row now stands for.
    for (const e of [ref, ours, ...same.filter((x) => !x.referenceName)]) if (e) used.add(e);
    return {
      ...row({
        ...r,
        ours: ours ? ours.ours : r.ours,
        reference: ref ? ref.reference : r.reference,
        referenceName: ref ? ref.referenceName : r.referenceName,
      }),
      ...(ref ? { referenceAt: ref.referenceAt ?? before.startedAt } : {}),
      ...(ours ? { oursAt: ours.oursAt ?? before.startedAt } : {}),
    };
  });
  return [...kept(before, merged, notes, used), ...merged];
}

/** The row's note, with the date of a side measured by an earlier run than the file's. */
const noteOf = (r: BenchRow) =>
  [r.note, r.oursAt && `ours measured ${r.oursAt}`, r.referenceAt && `reference measured ${r.referenceAt}`]
    .filter(Boolean)
    .join('; ');

export function writeResults(result: SuiteResult, dir = resultsDir()): { json: string; md: string } {
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
        `| ${r.name} | ${r.dataset} | ${r.metric}${r.better ? ` (${r.better} is better)` : ''} | ${fmt(r.ours)} | ${fmt(r.reference)} | ${fmt(r.ratio)} | ${r.referenceName ?? ''} | ${noteOf(r)} |`,
    ),
    '',
    ...result.notes.map((n) => `- ${n}`),
    '',
  ];
  writeFileSync(md, lines.join('\n'));
  return { json, md };
}
