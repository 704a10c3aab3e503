/**
 * Drift between the data a champion was trained on (the reference) and a new run's (the current): the population
 * stability index of each feature and of the score distribution, the label rate and the row count, each judged
 * against warn / block thresholds. Pure maths, no I/O: the activities read the columns and call this.
 *
 * PSI = Σ (current share − reference share) · ln(current share / reference share) over bins cut at the
 * reference's deciles (ties merged, missing values a bin of their own); an empty bin counts as a share of 1e-4 so
 * the logarithm stays finite. The usual reading: < 0.1 stable, 0.1–0.25 moderate shift, > 0.25 major shift.
 */

export interface DriftThresholds {
  /** PSI at which a feature or the score distribution warns. */
  warnPsi: number;
  /** PSI at which it blocks publishing and delivery. */
  blockPsi: number;
  /** Label rate change (current / reference, either way) that warns and that blocks. */
  warnLabelRateRatio: number;
  blockLabelRateRatio: number;
  /** Row count change (current / reference, either way) that warns and that blocks. */
  warnRowsRatio: number;
  blockRowsRatio: number;
  /** PSI of the score distribution that warns and that blocks delivery (default: warnPsi and blockPsi). */
  scoreWarnPsi?: number;
  scoreBlockPsi?: number;
}

export const DEFAULT_DRIFT: DriftThresholds = {
  warnPsi: 0.1,
  blockPsi: 0.25,
  warnLabelRateRatio: 1.5,
  blockLabelRateRatio: 3,
  warnRowsRatio: 1.5,
  blockRowsRatio: 3,
};

export type DriftLevel = 'ok' | 'warn' | 'block';

export interface PsiResult {
  psi: number;
  /** The bins' upper edges (the last is +∞; NaN values are a bin after them). */
  edges: number[];
  reference: number[];
  current: number[];
}

export interface DriftCheck {
  /** `feature`, `score`, `label_rate` or `rows`. */
  kind: 'feature' | 'score' | 'label_rate' | 'rows';
  name: string;
  /** PSI for features and scores; current / reference for the label rate and rows. */
  value: number;
  reference: number | null;
  current: number | null;
  level: DriftLevel;
  /** The bins behind a PSI (for the report's chart). */
  bins?: PsiResult;
}

const EMPTY_SHARE = 1e-4;

/** Bin edges at the reference's deciles (distinct values only), the last bin open-ended. */
export function decileEdges(reference: ArrayLike<number>, bins = 10): number[] {
  const v = Float64Array.from(reference).filter((x) => !Number.isNaN(x));
  v.sort();
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    if (!v.length) break;
    const e = v[Math.min(v.length - 1, Math.floor((k * v.length) / bins))];
    if (!edges.length || e > edges[edges.length - 1]) edges.push(e);
  }
  edges.push(Infinity);
  return edges;
}

/** Share of values in each bin: x < edges[0], edges[0] ≤ x < edges[1], …, then NaN. */
export function binShares(values: ArrayLike<number>, edges: number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (Number.isNaN(x)) {
      counts[edges.length]++;
      continue;
    }
    let lo = 0;
    let hi = edges.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (x < edges[mid]) hi = mid;
      else lo = mid + 1;
    }
    counts[lo]++;
  }
  return counts.map((c) => (values.length ? c / values.length : 0));
}

export function psi(reference: ArrayLike<number>, current: ArrayLike<number>, bins = 10): PsiResult {
  const edges = decileEdges(reference, bins);
  const r = binShares(reference, edges);
  const c = binShares(current, edges);
  let total = 0;
  for (let k = 0; k < r.length; k++) {
    if (r[k] === 0 && c[k] === 0) continue;
    const a = Math.max(c[k], EMPTY_SHARE);
    const e = Math.max(r[k], EMPTY_SHARE);
    total += (a - e) * Math.log(a / e);
  }
  return { psi: total, edges, reference: r, current: c };
}

const psiLevel = (v: number, t: DriftThresholds): DriftLevel =>
  v >= t.blockPsi ? 'block' : v >= t.warnPsi ? 'warn' : 'ok';

/** A ratio judged either way (halving counts as much as doubling). */
function ratioLevel(ratio: number, warn: number, block: number): DriftLevel {
  const r = ratio > 0 && Number.isFinite(ratio) ? Math.max(ratio, 1 / ratio) : Infinity;
  return r >= block ? 'block' : r >= warn ? 'warn' : 'ok';
}

export interface DriftInput {
  /** Feature columns by name, reference and current (only names in both are compared). */
  reference: Record<string, ArrayLike<number>>;
  current: Record<string, ArrayLike<number>>;
  referenceLabelRate?: number | null;
  currentLabelRate?: number | null;
  referenceRows: number;
  currentRows: number;
}

/** The pre-publish checks: PSI per feature, the label rate and the row count. */
export function dataDrift(input: DriftInput, t: DriftThresholds = DEFAULT_DRIFT): DriftCheck[] {
  const checks: DriftCheck[] = [];
  for (const name of Object.keys(input.reference)) {
    if (!(name in input.current)) continue;
    const bins = psi(input.reference[name], input.current[name]);
    checks.push({
      kind: 'feature',
      name,
      value: bins.psi,
      reference: null,
      current: null,
      level: psiLevel(bins.psi, t),
      bins,
    });
  }
  const rr = input.referenceLabelRate;
  const cr = input.currentLabelRate;
  if (rr != null && cr != null && rr > 0) {
    const ratio = cr / rr;
    const level = ratioLevel(ratio, t.warnLabelRateRatio, t.blockLabelRateRatio);
    checks.push({ kind: 'label_rate', name: 'label rate', value: ratio, reference: rr, current: cr, level });
  }
  const rows = input.referenceRows > 0 ? input.currentRows / input.referenceRows : Infinity;
  checks.push({
    kind: 'rows',
    name: 'rows',
    value: rows,
    reference: input.referenceRows,
    current: input.currentRows,
    level: ratioLevel(rows, t.warnRowsRatio, t.blockRowsRatio),
  });
  return checks;
}

/** The pre-delivery check: PSI of the score distribution (this run's scores against the champion's). */
export function scoreDrift(reference: ArrayLike<number>, current: ArrayLike<number>, t = DEFAULT_DRIFT): DriftCheck {
  const bins = psi(reference, current);
  const level = psiLevel(bins.psi, {
    ...t,
    warnPsi: t.scoreWarnPsi ?? t.warnPsi,
    blockPsi: t.scoreBlockPsi ?? t.blockPsi,
  });
  return { kind: 'score', name: 'score', value: bins.psi, reference: null, current: null, level, bins };
}

export function worstLevel(checks: DriftCheck[]): DriftLevel {
  return checks.some((c) => c.level === 'block') ? 'block' : checks.some((c) => c.level === 'warn') ? 'warn' : 'ok';
}

/** One line naming what moved and by how much, worst first: "blocked: n_view_7d PSI 0.41, label rate ×3.2". */
export function driftMessage(checks: DriftCheck[]): string {
  const moved = checks
    .filter((c) => c.level !== 'ok')
    .sort((a, b) => (a.level === b.level ? b.value - a.value : a.level === 'block' ? -1 : 1));
  if (!moved.length) return 'no drift';
  const say = (c: DriftCheck) =>
    c.kind === 'feature' || c.kind === 'score'
      ? `${c.name} PSI ${c.value.toFixed(3)} (${c.level})`
      : `${c.name} ×${c.value.toFixed(2)} (${c.reference} → ${c.current}, ${c.level})`;
  return `${worstLevel(checks) === 'block' ? 'blocked' : 'warning'}: ${moved.map(say).join(', ')}`;
}
