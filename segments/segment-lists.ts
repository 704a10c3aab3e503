/**
 * Lists out of the box: one per RFM segment and one per behavioural cluster (`export.segmentLists`), written like
 * campaigns but without one, each with the usual RFM playbook action; and clusters described in words.
 */
import type { CampaignSpec } from '../pipelines/schema';
import { columnSafe } from '../warehouse/names';
import { RFM_SEGMENTS, type RfmSegment } from './rfm';

/** The customary RFM playbook: what marketers do with each segment. */
export const RFM_ACTIONS: Record<RfmSegment, string> = {
  Champions: 'reward them: early access, referrals, reviews',
  'Loyal Customers': 'upsell and invite to the loyalty programme',
  "Can't Lose Them": 'win them back personally before a competitor does',
  'At Risk': 'send a personalised win-back offer',
  'Potential Loyalists': 'offer membership or a second-purchase incentive',
  'New Customers': 'welcome series and onboarding',
  Promising: 'build the relationship: recommendations, free shipping',
  'Need Attention': 'limited-time offer based on past purchases',
  'About to Sleep': 'reactivate with popular items or a small discount',
  Hibernating: 'low-cost reactivation, else suppress',
  Lost: 'suppress from paid media; one last low-cost reactivation at most',
};

/** RFM segment order by customer value (best first): reports and lists use it instead of the alphabet. */
export const RFM_VALUE_ORDER: readonly RfmSegment[] = [
  'Champions',
  'Loyal Customers',
  'Potential Loyalists',
  'New Customers',
  'Promising',
  'Need Attention',
  "Can't Lose Them",
  'At Risk',
  'About to Sleep',
  'Hibernating',
  'Lost',
];

/** Words for a cluster's distinguishing features: [above the mean, below it]. */
const CLUSTER_WORDS: Record<string, [string, string]> = {
  rfm_frequency: ['buy again often', 'rarely buy again'],
  rfm_monetary: ['large repeat orders', 'small or no repeat orders'],
  days_since_last_event: ['inactive for a long time', 'recently active'],
  n_events_total: ['very active', 'few interactions'],
  n_sessions: ['many visits', 'few visits'],
  distinct_items: ['browse many items', 'browse few items'],
  funnel_stage: ['far down the funnel', 'early in the funnel'],
  revenue_total: ['high spend', 'little or no spend'],
};

/** "recently active, many visits, high spend" from the features whose cluster mean is furthest from the mean. */
export function clusterInWords(distinguishing: { feature: string; z: number }[]): string {
  const words = distinguishing
    .filter((d) => Math.abs(d.z) >= 0.25)
    .map((d) => {
      const w = CLUSTER_WORDS[d.feature];
      const strength = Math.abs(d.z) >= 1 ? '' : 'somewhat ';
      return w ? `${strength}${d.z > 0 ? w[0] : w[1]}` : `${d.feature} ${d.z > 0 ? 'above' : 'below'} average`;
    });
  return words.length ? words.join(', ') : 'close to the average user';
}

/** The lists `export.segmentLists` asks for, as campaign specs over the `segments` table. */
export function segmentListSpecs(
  kinds: readonly ('rfm' | 'cluster')[],
  clusters: { cluster: number; distinguishing: { feature: string; z: number }[] }[],
): (CampaignSpec & { kind: 'rfm_segment' | 'cluster' })[] {
  const out: (CampaignSpec & { kind: 'rfm_segment' | 'cluster' })[] = [];
  if (kinds.includes('rfm'))
    for (const s of RFM_SEGMENTS)
      out.push({
        kind: 'rfm_segment',
        name: `rfm_${columnSafe(s)}`,
        description: `Every user the RFM map calls "${s}" (docs/segments.md has the rule)`,
        filter: { field: 'rfm_segment', op: 'eq', value: s },
        rankBy: 'propensity',
        // Segment lists are not campaigns: nothing is held out of them.
        control: { share: 0, salt: '' },
        action: RFM_ACTIONS[s],
      });
  if (kinds.includes('cluster'))
    for (const c of clusters)
      out.push({
        kind: 'cluster',
        name: `cluster_${c.cluster}`,
        description: `Behaviour cluster ${c.cluster}: ${clusterInWords(c.distinguishing)}`,
        filter: { field: 'cluster', op: 'eq', value: c.cluster },
        rankBy: 'propensity',
        // Segment lists are not campaigns: nothing is held out of them.
        control: { share: 0, salt: '' },
        action: 'review',
      });
  return out;
}
