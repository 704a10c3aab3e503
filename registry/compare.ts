/**
 * Comparing two model versions honestly: only on the same held-out rows. A row is a user at a training cutoff with
 * its label; each version recorded the rows it was measured on (holdout-predictions.parquet: user_id, label, score).
 * Two versions trained at different cutoffs were measured on different rows even when the user ids overlap (the
 * labels are other outcomes), so their metrics are shown apart, with the rows each was measured on, never as a
 * difference. At the same training cutoff, both are evaluated on the users both held out (neither trained on them).
 */
import { evaluateBinary, higherIsBetter } from '../ml/metrics';

export interface MeasuredRows {
  version: string;
  /** The training cutoff the rows' features and labels are at. */
  trainingCutoff: string | null;
  ids: string[];
  labels: ArrayLike<number>;
  scores: ArrayLike<number>;
}

export interface RowsDescription {
  version: string;
  trainingCutoff: string | null;
  rows: number;
  positives: number;
}

export interface VersionComparison {
  sameRows: boolean;
  /** Why the two cannot be compared on the same rows (null when they can). */
  why: string | null;
  a: RowsDescription;
  b: RowsDescription;
  /** Rows both were measured on (when comparable): metrics of each on them, and b − a. */
  common: number;
  metrics: { a: Record<string, number>; b: Record<string, number>; diff: Record<string, number> } | null;
}

export const COMPARED_METRICS = ['roc_auc', 'pr_auc', 'log_loss', 'brier', 'ece', 'best_f1', 'top_decile_lift'];

const describeRows = (m: MeasuredRows): RowsDescription => {
  let positives = 0;
  for (let i = 0; i < m.labels.length; i++) positives += Number(m.labels[i]);
  return { version: m.version, trainingCutoff: m.trainingCutoff, rows: m.ids.length, positives };
};

export function compareOnSameRows(a: MeasuredRows, b: MeasuredRows): VersionComparison {
  const base = { a: describeRows(a), b: describeRows(b) };
  const apart = (why: string): VersionComparison => ({ ...base, sameRows: false, why, common: 0, metrics: null });
  if (a.trainingCutoff !== b.trainingCutoff)
    return apart(
      `trained at other cutoffs (${a.trainingCutoff ?? '?'} vs ${b.trainingCutoff ?? '?'}): their held-out rows are other outcomes`,
    );
  const inB = new Map(b.ids.map((id, i) => [id, i]));
  const ia: number[] = [];
  const ib: number[] = [];
  a.ids.forEach((id, i) => {
    const j = inB.get(id);
    if (j === undefined) return;
    ia.push(i);
    ib.push(j);
  });
  if (ia.length === 0) return apart('no held-out user in common');
  if (ia.some((i, k) => Number(a.labels[i]) !== Number(b.labels[ib[k]])))
    return apart('the same users have other labels (the data changed between the runs)');
  const y = Float64Array.from(ia, (i) => Number(a.labels[i]));
  if (!y.some((v) => v === 1) || y.every((v) => v === 1))
    return apart(`the ${ia.length} held-out users in common are all of one class`);
  const ma = pick(
    evaluateBinary(
      y,
      Float64Array.from(ia, (i) => Number(a.scores[i])),
    ),
  );
  const mb = pick(
    evaluateBinary(
      y,
      Float64Array.from(ib, (j) => Number(b.scores[j])),
    ),
  );
  const diff = Object.fromEntries(Object.keys(ma).map((k) => [k, mb[k] - ma[k]]));
  const partial = ia.length < a.ids.length || ia.length < b.ids.length;
  return {
    ...base,
    sameRows: true,
    why: partial ? `measured on the ${ia.length} held-out users both versions held out` : null,
    common: ia.length,
    metrics: { a: ma, b: mb, diff },
  };
}

function pick(m: object): Record<string, number> {
  const r = m as Record<string, number>;
  return Object.fromEntries(COMPARED_METRICS.filter((k) => Number.isFinite(r[k])).map((k) => [k, r[k]]));
}

/** How much worse `b` is than `a` on `metric` (positive = worse), from a same-rows comparison. */
export function worseBy(c: VersionComparison, metric: string): number | null {
  const d = c.metrics?.diff[metric];
  if (d === undefined) return null;
  return higherIsBetter(metric) ? -d : d;
}
