/**
 * The report's section for marketers: every list with what it is, what to do with it and what its "expected
 * conversions" mean; RFM segments in value order (best first, not alphabetical); clusters described in words.
 */
import { RFM_VALUE_ORDER } from '../segments/segment-lists';
import { controlSplitWords } from '../lift/words';
import { barChart, escapeHtml, table } from './charts';

type Realised = { realisedConversions?: number | null }; // at a past cutoff: list users who converted in the horizon
type Control = { control?: { share: number; rows: number } }; // the held-out users (never delivered)
export interface MarketerData {
  segmentSizes: Record<string, Record<string, number>>;
  campaigns: (Record<'name' | 'action', string> &
    Record<'rows' | 'expectedConversions', number> &
    Realised &
    Control & { description?: string; kind?: 'campaign' | 'rfm_segment' | 'cluster' })[];
  sampleRows: Record<string, unknown>[];
  clusters?: { cluster: number; size: number; distinguishing: { feature: string; z: number }[]; inWords?: string }[];
}

/** RFM segments best first; names the order does not know (none today) go last, in the order given. */
export function rfmInValueOrder(sizes: Record<string, number>): [string, number][] {
  const rank = (k: string) => {
    const i = RFM_VALUE_ORDER.indexOf(k as (typeof RFM_VALUE_ORDER)[number]);
    return i < 0 ? RFM_VALUE_ORDER.length : i;
  };
  return Object.entries(sizes).sort((a, b) => rank(a[0]) - rank(b[0]));
}

function addDays(iso: string, horizon: string): string {
  const m = /^(\d+)([dw])$/.exec(horizon);
  const days = m ? Number(m[1]) * (m[2] === 'w' ? 7 : 1) : 0;
  return new Date(Date.parse(iso) + days * 86_400_000).toISOString().slice(0, 10);
}

export function marketerSection(m: MarketerData, d: { cutoff: string; horizon: string; modelVersion: string | null }) {
  const from = d.cutoff.slice(0, 10);
  const to = addDays(d.cutoff, d.horizon);
  const campaigns = m.campaigns.filter((c) => (c.kind ?? 'campaign') === 'campaign');
  const segmentLists = m.campaigns.filter((c) => (c.kind ?? 'campaign') !== 'campaign');
  const listTable = (lists: MarketerData['campaigns']) =>
    table(
      [
        'list',
        'what it is',
        'what to do',
        'users',
        `expected conversions ${from} → ${to}`,
        `realised conversions (past cutoffs only)`,
        'control group (held out, not delivered)',
      ],
      lists.map((c) => [
        c.name,
        c.description ?? '—',
        c.action,
        c.rows,
        c.expectedConversions,
        c.realisedConversions ?? '—',
        c.control ? controlSplitWords(c.control, c.rows) : '—',
      ]),
    );
  return `<section><h2>For marketers</h2>
       ${barChart(
         'Campaign lists (users)',
         campaigns.map((c) => ({
           label: c.name,
           value: c.rows,
           note: `${c.rows.toLocaleString('en-US')} users, ~${c.expectedConversions.toFixed(1)} expected conversions within ${d.horizon}`,
         })),
         '#e67e22',
       )}
       <p class="meaning">Expected conversions: how many users on the list the model expects to convert between ${escapeHtml(from)}
       and ${escapeHtml(to)} (the ${escapeHtml(d.horizon)} after the cutoff), the sum of their calibrated propensities,
       counted over every user on the list. It is a <b>baseline</b> (what happens without the campaign), <b>not</b> the
       campaign's incremental effect: measure that with a control group. Scored with model version
       ${escapeHtml(d.modelVersion ?? '—')}. Deciles: 1 = the top 10 % of scores. Each list's CSV has a README next to it
       that says the same.</p>
       ${listTable(campaigns)}
       ${segmentLists.length ? `<h3>Segment lists (one per RFM segment / cluster)</h3>${listTable(segmentLists)}` : ''}
       ${barChart(
         'RFM segments, most valuable first (users)',
         rfmInValueOrder(m.segmentSizes.rfm ?? {}).map(([k, v]) => ({
           label: k,
           value: v,
           note: v.toLocaleString('en-US'),
         })),
         '#16a085',
       )}
       ${
         m.clusters?.length
           ? table(
               ['cluster', 'users', 'what sets it apart', 'z-scores of the cluster mean'],
               m.clusters.map((c) => [
                 c.cluster,
                 c.size,
                 c.inWords ?? '—',
                 c.distinguishing.map((x) => `${x.feature} ${x.z >= 0 ? '+' : ''}${x.z.toFixed(2)}`).join(', '),
               ]),
             )
           : ''
       }
       <h3>Highest-propensity users (sample)</h3>
       ${
         m.sampleRows.length
           ? table(
               Object.keys(m.sampleRows[0]),
               m.sampleRows.map((r) => Object.values(r)),
             )
           : '<p>No users scored.</p>'
       }
       </section>`;
}
