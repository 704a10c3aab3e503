/**
 * RFM segments: R, F and M are quintile scores (5 = best); F and M are averaged into FM; the (R, FM) cell names
 * the segment. The table below is the whole rule: it covers all 25 cells exactly once (a unit test checks it),
 * and the SQL that assigns segments is generated from it, so code and documentation cannot drift apart.
 */
import { RFM_SEGMENT_NAMES } from '../pipelines/schema/segments';

export const RFM_SEGMENTS = RFM_SEGMENT_NAMES;
export type RfmSegment = (typeof RFM_SEGMENTS)[number];

/** r and fm are 1..5; the rules do not overlap. */
export const RFM_RULES: { segment: RfmSegment; r: number[]; fm: number[] }[] = [
  { segment: 'Champions', r: [5], fm: [4, 5] },
  { segment: 'Champions', r: [4], fm: [5] },
  { segment: 'Loyal Customers', r: [3], fm: [4, 5] },
  { segment: 'Loyal Customers', r: [4], fm: [4] },
  { segment: "Can't Lose Them", r: [1], fm: [5] },
  { segment: 'At Risk', r: [2], fm: [3, 4, 5] },
  { segment: 'At Risk', r: [1], fm: [3, 4] },
  { segment: 'Potential Loyalists', r: [4, 5], fm: [2, 3] },
  { segment: 'New Customers', r: [5], fm: [1] },
  { segment: 'Promising', r: [4], fm: [1] },
  { segment: 'Need Attention', r: [3], fm: [3] },
  { segment: 'About to Sleep', r: [3], fm: [1, 2] },
  { segment: 'Hibernating', r: [2], fm: [1, 2] },
  { segment: 'Lost', r: [1], fm: [1, 2] },
];

export function rfmSegment(r: number, fm: number): RfmSegment {
  const rule = RFM_RULES.find((x) => x.r.includes(r) && x.fm.includes(fm));
  if (!rule) throw new Error(`no RFM segment for R=${r}, FM=${fm} (scores are 1..5)`);
  return rule.segment;
}

/** The same rules as a SQL CASE over integer columns r and fm. */
export function rfmSegmentSql(r = 'rfm_r', fm = 'rfm_fm'): string {
  const arms = RFM_RULES.map(
    (x) => `WHEN ${r} IN (${x.r.join(', ')}) AND ${fm} IN (${x.fm.join(', ')}) THEN '${x.segment.replace(/'/g, "''")}'`,
  );
  return `CASE ${arms.join(' ')} END`;
}
