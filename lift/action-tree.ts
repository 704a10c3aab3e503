/**
 * The next best action per segment: a shallow decision tree over segment features whose leaves are segments and
 * whose question is "which action raised conversion most here?". Each row is one user of one measured send
 * (action, arm, converted, segment features). A node splits where some action's lift differs most between the two
 * sides (the largest |z| of the difference of the two sides' lifts), only when that difference is clear (|z| ≥
 * MIN_Z, a guard against splitting on noise among many candidate splits) and each side keeps at least MIN_ARM
 * users in each arm of each action. A leaf names the action with the highest measured lift when its 95 % interval
 * is above 0 and above every other action's interval; otherwise "not enough evidence", with the reason. Pure
 * TypeScript, no I/O: lift/next-best-action.ts reads the rows.
 */
import { rateDifference, type Interval } from './stats';

export const MAX_DEPTH = 3;
export const MIN_ARM = 100;
export const MIN_Z = 3;

export interface ActionRows {
  /** Campaign names (the actions) and, per row: action index, 1 = treatment, 1 = converted. */
  actions: { campaign: string; action: string }[];
  action: Uint16Array;
  t: Uint8Array;
  y: Uint8Array;
  /** Segment features: numeric columns (NaN = missing) and categorical ones (codes into `levels`, −1 = missing). */
  numeric: { name: string; values: Float64Array }[];
  categorical: { name: string; levels: string[]; codes: Int32Array }[];
}

export type Condition =
  { feature: string; op: 'le' | 'gt'; value: number } | { feature: string; op: 'is' | 'is_not'; value: string };

export interface ActionEvidence {
  campaign: string;
  action: string;
  treatment: number;
  control: number;
  lift: Interval;
}

export interface SegmentAction {
  conditions: Condition[];
  /** The segment in words ("segment is A and propensity decile ≤ 3"; "everyone" at the root). */
  segment: string;
  /** Users of the measured sends in the segment (a user on two sends counts twice). */
  users: number;
  actions: ActionEvidence[];
  /** The action to take, or null: not enough evidence (reason says which intervals overlap). */
  best: { campaign: string; action: string } | null;
  reason: string;
}

type Rows = number[];

function evidence(d: ActionRows, rows: Rows): ActionEvidence[] {
  const k = d.actions.length;
  const n = [new Float64Array(k), new Float64Array(k)];
  const x = [new Float64Array(k), new Float64Array(k)];
  for (const i of rows) {
    n[d.t[i]][d.action[i]]++;
    x[d.t[i]][d.action[i]] += d.y[i];
  }
  return d.actions.map((a, j) => ({
    ...a,
    treatment: n[1][j],
    control: n[0][j],
    lift:
      n[1][j] && n[0][j]
        ? rateDifference(x[1][j], n[1][j], x[0][j], n[0][j])
        : { estimate: NaN, low: -Infinity, high: Infinity },
  }));
}

const se = (i: Interval) => (i.high - i.low) / (2 * 1.959963984540054);

/** The strongest difference of one action's lift between two sides, as |z|; 0 when a side is too small. */
function splitZ(d: ActionRows, left: Rows, right: Rows): number {
  const [l, r] = [evidence(d, left), evidence(d, right)];
  let best = 0;
  for (let j = 0; j < l.length; j++) {
    if (Math.min(l[j].treatment, l[j].control, r[j].treatment, r[j].control) < MIN_ARM) return 0;
    const z = Math.abs(l[j].lift.estimate - r[j].lift.estimate) / Math.hypot(se(l[j].lift), se(r[j].lift));
    if (Number.isFinite(z)) best = Math.max(best, z);
  }
  return best;
}

/** Candidate splits of `rows`: each level of each categorical feature, deciles of each numeric one. */
function* candidates(d: ActionRows, rows: Rows): Generator<[Condition, Condition, (i: number) => boolean]> {
  for (const c of d.categorical)
    for (const [code, level] of c.levels.entries())
      yield [
        { feature: c.name, op: 'is', value: level },
        { feature: c.name, op: 'is_not', value: level },
        (i) => c.codes[i] === code,
      ];
  for (const c of d.numeric) {
    const v = rows.map((i) => c.values[i]).filter(Number.isFinite);
    const sorted = Float64Array.from(v).sort();
    const cuts = new Set<number>();
    for (let q = 1; q < 10; q++) cuts.add(sorted[Math.floor((q * sorted.length) / 10)]);
    for (const cut of cuts)
      if (cut < sorted[sorted.length - 1])
        yield [
          { feature: c.name, op: 'le', value: cut },
          { feature: c.name, op: 'gt', value: cut },
          (i) => c.values[i] <= cut,
        ];
  }
}

/** The leaf's answer: the best action when its interval is above 0 and clear of every other's, else why not. */
export function decide(actions: ActionEvidence[]): Pick<SegmentAction, 'best' | 'reason'> {
  const ranked = actions
    .filter((a) => Number.isFinite(a.lift.estimate))
    .sort((a, b) => b.lift.estimate - a.lift.estimate);
  if (!ranked.length) return { best: null, reason: 'not enough evidence: no action has both arms in this segment' };
  const [top, ...rest] = ranked;
  const pts = (x: number) => `${(x * 100).toFixed(1)} pts`;
  const iv = (a: ActionEvidence) => `${a.campaign} [${pts(a.lift.low)}, ${pts(a.lift.high)}]`;
  if (top.lift.low <= 0)
    return {
      best: null,
      reason: `not enough evidence: no action's lift is above 0 with 95 % confidence (best ${iv(top)})`,
    };
  const overlapping = rest.filter((a) => a.lift.high >= top.lift.low);
  if (overlapping.length)
    return {
      best: null,
      reason: `not enough evidence: the intervals of ${iv(top)} and ${overlapping.map(iv).join(', ')} overlap`,
    };
  return {
    best: { campaign: top.campaign, action: top.action },
    reason: `${top.campaign} lifts conversion by ${pts(top.lift.estimate)} [${pts(top.lift.low)}, ${pts(top.lift.high)}]${rest.length ? `, clear of ${rest.map(iv).join(', ')}` : ''}`,
  };
}

export function conditionWords(c: Condition): string {
  const name = c.feature.replace(/^attr_/, '').replace(/_/g, ' ');
  if (c.op === 'is' || c.op === 'is_not') return `${name} ${c.op === 'is' ? 'is' : 'is not'} ${c.value}`;
  // A one-hot customer attribute (attr_segment_A ≤ 0): say whether the customer has it.
  if (c.feature.startsWith('attr_') && c.value === 0) return `${name}: ${c.op === 'le' ? 'no' : 'yes'}`;
  return `${name} ${c.op === 'le' ? '≤' : '>'} ${+Number(c.value).toFixed(4)}`;
}

/** Grows the tree and returns its leaves, each a segment with its next best action (or "not enough evidence"). */
export function nextBestActionTree(d: ActionRows): SegmentAction[] {
  const leaves: SegmentAction[] = [];
  const grow = (rows: Rows, conditions: Condition[]) => {
    let best: { z: number; split: [Condition, Condition]; left: Rows; right: Rows } | null = null;
    if (conditions.length < MAX_DEPTH)
      for (const [a, b, test] of candidates(d, rows)) {
        const left = rows.filter(test);
        const right = rows.filter((i) => !test(i));
        const z = splitZ(d, left, right);
        if (z >= MIN_Z && (!best || z > best.z)) best = { z, split: [a, b], left, right };
      }
    if (best) {
      grow(best.left, [...conditions, best.split[0]]);
      grow(best.right, [...conditions, best.split[1]]);
      return;
    }
    const actions = evidence(d, rows);
    leaves.push({
      conditions,
      segment: conditions.length ? conditions.map(conditionWords).join(' and ') : 'everyone',
      users: rows.length,
      actions,
      ...decide(actions),
    });
  };
  grow(Array.from(d.t.keys()), []);
  return leaves;
}
