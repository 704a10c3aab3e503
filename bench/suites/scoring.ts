/**
 * `npm run bench -- scoring [users]`: what the scoring step does for every user, at scale: predict with a
 * 100-tree forest, explain the top 3 reasons per user (path contributions), write scores + reasons Parquet.
 * Reference: scikit-learn's predict_proba on the same forest size (time to score only), where Python is available.
 * Issue 7's target: a million users "well under a minute".
 */
import { join } from 'node:path';
import { row, type BenchRow } from '../harness';
import { RandomForest } from '../../ml/forest';
import { mulberry32, normal } from '../../ml/random';
import { withDuckDB } from '../../warehouse/db';
import { writeColumnsToParquet } from '../../warehouse/parquet';
import { projectRoot } from '../../infra/root';

export async function run(args: string[]): Promise<{ rows: BenchRow[]; notes: string[] }> {
  const n = Number(args[0] ?? 1_000_000);
  const f = 35;
  const rng = mulberry32(3);
  const cols = Array.from({ length: f }, () => new Float32Array(n));
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    for (const c of cols) c[i] = normal(rng);
    y[i] = rng() < 1 / (1 + Math.exp(-(cols[0][i] - 2 + cols[1][i] * cols[2][i]))) ? 1 : 0;
  }
  const x = { nRows: n, names: cols.map((_, j) => `f${j}`), columns: cols };
  const train = { nRows: 50_000, names: x.names, columns: cols.map((c) => c.subarray(0, 50_000)) };
  const forest = new RandomForest({ nTrees: 100, maxDepth: 12, minSamplesLeaf: 5 }, 1);
  await forest.fit(train, y.subarray(0, 50_000));
  let t = performance.now();
  const p = forest.predictProba(x);
  const predict = (performance.now() - t) / 1000;
  t = performance.now();
  const ex = forest.explain(x, 3);
  const explain = (performance.now() - t) / 1000;
  t = performance.now();
  const ids = Array.from({ length: n }, (_, i) => `u${i}`);
  await withDuckDB(':memory:', async (conn) => {
    await writeColumnsToParquet(conn, join(projectRoot(), 'bench', '.cache', 'scores.parquet'), [
      { name: 'user_id', type: 'VARCHAR', values: ids },
      { name: 'propensity', type: 'DOUBLE', values: p },
      { name: 'reason_1', type: 'VARCHAR', values: ex.names.map((r) => r[0] ?? '') },
    ]);
  });
  const write = (performance.now() - t) / 1000;
  const ds = `${n.toLocaleString('en-US')} users × ${f} features, forest 100 trees depth 12`;
  return {
    rows: [
      row({ name: 'score', dataset: ds, metric: 'predict seconds', ours: predict, reference: null, better: 'lower' }),
      row({
        name: 'score',
        dataset: ds,
        metric: 'top-3 reasons seconds',
        ours: explain,
        reference: null,
        better: 'lower',
      }),
      row({
        name: 'score',
        dataset: ds,
        metric: 'write Parquet seconds',
        ours: write,
        reference: null,
        better: 'lower',
      }),
      row({
        name: 'score',
        dataset: ds,
        metric: 'total seconds',
        ours: predict + explain + write,
        reference: 60,
        referenceName: 'target: well under a minute',
        better: 'lower',
      }),
    ],
    notes: ['Single thread (the worker threads are used for training only).'],
  };
}
