/**
 * The reference side of `npm run bench -- pipeline`: bench/python/pipeline_reference.py (pandas features,
 * scikit-learn random forest on the table funnelcast built, scoring, a CSV per campaign) on the tables of one of our
 * runs. `--reference-only` runs it alone, on the tables of the last completed run of ours at that size (its summary
 * is kept in the size's cache as last-run.json): at 10 M events it takes 20–40 minutes, so it is measured once and
 * later `--no-reference` runs keep its rows and ratios (mergeEarlier, bench/harness.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mergeEarlier, row, type BenchRow } from '../harness';
import type { Sample } from '../process-tree';
import { projectRoot } from '../../infra/root';
import type { RunSummary } from '../../workflows/types';
import { events, measure } from './pipeline';

const MB = 1024 * 1024;

/** Which of our steps the reference's step covers (extract and features are one pandas script there). */
export const REFERENCE_STEP: Record<string, string> = {
  features: 'features',
  'cross-validate': 'cross-validate',
  train: 'train',
  score: 'score',
  segments: 'segments',
};

/** The data set column of every row of a size: the same for every engine and for the reference alone. */
export const datasetOf = (size: string, summary: RunSummary | null) =>
  summary
    ? `generated-${size} (${summary.extract.events ?? '?'} events, ${summary.features.trainingUsers} training users)`
    : `generated-${size} (run failed)`;

export const referenceName = (version: string) => `pandas + scikit-learn ${version} (n_jobs=2)`;

/** Where a completed run of ours leaves its summary for a later `--reference-only` run. */
export const lastRunFile = (cache: string) => join(cache, 'last-run.json');

export async function reference(size: string, cache: string, summary: RunSummary, python: string) {
  const runDir = summary.runDir;
  const spec = {
    events: events(size, cache),
    cutoff: summary.cutoff,
    training_cutoff: summary.trainingCutoff,
    horizon_days: 30,
    training_table: join(runDir, 'training-features', 'features.parquet'),
    scoring_table: summary.features.featuresPath,
    holdout_users: join(runDir, 'models', 'forest-holdout.predictions.parquet'),
    out: join(cache, 'reference'),
    params: { nTrees: 100, maxDepth: 10, minSamplesLeaf: 5, minSamplesSplit: 10 },
  };
  for (const f of [spec.training_table, spec.scoring_table, spec.holdout_users])
    if (!existsSync(f)) throw new Error(`${f} is missing: run ours at ${size} first (its run's files are the input)`);
  rmSync(spec.out, { recursive: true, force: true });
  const specFile = join(cache, 'reference.json');
  writeFileSync(specFile, JSON.stringify(spec));
  console.error(`[pipeline] ${size}: Python reference…`);
  const m = await measure(python, [join(projectRoot(), 'bench', 'python', 'pipeline_reference.py'), specFile], {});
  if (m.code !== 0) throw new Error(`pipeline_reference.py exited ${m.code}: ${m.stderr.slice(-2000)}`);
  const r = JSON.parse(m.stdout.trim().split('\n').at(-1)!) as {
    steps: Record<string, number>;
    roc_auc: number;
    version: string;
    train_rows: number;
  };
  return { m, r };
}

export function python(): string | null {
  const r = spawnSync(
    'bash',
    [join(projectRoot(), 'bench', 'python', 'ensure-venv.sh'), 'scikit-learn', 'numpy', 'pandas', 'pyarrow'],
    { encoding: 'utf8' },
  );
  return r.status === 0 ? r.stdout.trim().split('\n').at(-1)! : null;
}

export const peakMb = (ss: Sample[]) => Math.max(0, ...ss.map((s) => s.rssBytes)) / MB;
export const cpuOf = (ss: Sample[]) => (ss.length ? ss[ss.length - 1].cpuSeconds - ss[0].cpuSeconds : 0);

type Measured = Awaited<ReturnType<typeof reference>>;

/** The reference's rows of one size with ours left empty (mergeEarlier fills it from the last run of ours). */
export function referenceRows(size: string, summary: RunSummary, ref: Measured): BenchRow[] {
  const dataset = datasetOf(size, summary);
  const referenceName_ = referenceName(ref.r.version);
  const at = new Date().toISOString();
  const side = (name: string, metric: string, reference: number, better: 'lower' | 'higher' = 'lower') => ({
    ...row({ name, dataset, metric, ours: null, reference, referenceName: referenceName_, better }),
    referenceAt: at,
  });
  return [
    ...Object.entries(REFERENCE_STEP)
      .filter(([, refStep]) => ref.r.steps[refStep] != null)
      .map(([step, refStep]) => side(`step ${step}`, 'wall seconds', ref.r.steps[refStep])),
    side('whole pipeline', 'wall seconds (headline)', ref.m.wallSeconds),
    side('whole pipeline', 'CPU seconds (process tree)', cpuOf(ref.m.samples)),
    side('whole pipeline', 'peak RSS MB (process tree)', peakMb(ref.m.samples)),
    side('whole pipeline', 'holdout ROC AUC (forest)', ref.r.roc_auc, 'higher'),
  ];
}

/** `--reference-only`: the reference at each size on the tables of the last run of ours there. */
export async function referenceOnly(sizes: string[], cacheOf: (size: string) => string) {
  const py = python();
  if (!py) throw new Error('--reference-only needs python3 (bench/python/ensure-venv.sh)');
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  for (const size of sizes) {
    const file = lastRunFile(cacheOf(size));
    if (!existsSync(file)) throw new Error(`${file} is missing: run ours at ${size} first (npm run bench -- pipeline)`);
    const summary = JSON.parse(readFileSync(file, 'utf8')) as RunSummary;
    const ref = await reference(size, cacheOf(size), summary, py);
    rows.push(...referenceRows(size, summary, ref));
    notes.push(
      `${size}: the reference side was run alone (--reference-only) on the tables of run ${summary.runId}; ` +
        `${ref.r.train_rows} training rows, CV ROC AUC ${JSON.stringify((ref.r as { cv_roc_auc?: number[] }).cv_roc_auc ?? [])}.`,
    );
  }
  return { rows: mergeEarlier('pipeline', rows, notes), notes };
}
