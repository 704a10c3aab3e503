/**
 * The report's section on measured campaigns: each send's conversion lift (treatment − control) as a point with
 * its 95 % interval around a zero line, oldest send first, so a campaign's lift reads both per campaign and over
 * time; sends without a measurement say why (window not passed, no control group).
 */
import type { RunSummary } from '../workflows/types';
import { escapeHtml, table } from './charts';
import { nextBestActionSection, upliftSection } from './uplift';

export interface LiftReportRow {
  campaign: string;
  /** The send's cutoff (when its list was made). */
  cutoff: string;
  lift: number;
  low: number;
  high: number;
}

export interface LiftReportData {
  measured: LiftReportRow[];
  /** Sends this run looked at without a lift, and why. */
  unmeasured: { runId: string; campaign: string; reason: string }[];
  /** This run's uplift models and their predictions before send (report/uplift.ts). */
  uplift?: RunSummary['uplift'];
  nextBestAction?: RunSummary['nextBestAction'];
}

const pts = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(2)} pts`;

/** Points with horizontal interval whiskers on a shared axis that always includes 0. */
export function liftChart(rows: LiftReportRow[]): string {
  const rowH = 24;
  const labelW = 230;
  const width = 700;
  const plotW = width - labelW - 120;
  const h = rows.length * rowH + 30;
  const lo = Math.min(0, ...rows.map((r) => r.low));
  const hi = Math.max(0, ...rows.map((r) => r.high));
  const span = hi - lo || 1;
  const x = (v: number) => labelW + ((v - lo) / span) * plotW;
  const zero = `<path d="M${x(0).toFixed(1)},0 V${h - 20}" stroke="#888" stroke-dasharray="3,3"/><text x="${x(0).toFixed(1)}" y="${h - 6}" class="tick" text-anchor="middle">0</text>`;
  const marks = rows.map((r, i) => {
    const y = 12 + i * rowH;
    const color = r.low > 0 ? '#27ae60' : r.high < 0 ? '#c0392b' : '#7f8c8d';
    const label = `${r.campaign} · ${r.cutoff.slice(0, 10)}`;
    return `<text x="${labelW - 8}" y="${y + 4}" class="tick" text-anchor="end">${escapeHtml(label)}</text><path d="M${x(r.low).toFixed(1)},${y} H${x(r.high).toFixed(1)} M${x(r.low).toFixed(1)},${y - 5} v10 M${x(r.high).toFixed(1)},${y - 5} v10" stroke="${color}" stroke-width="2"/><circle cx="${x(r.lift).toFixed(1)}" cy="${y}" r="4" fill="${color}"><title>${escapeHtml(`${label}: ${pts(r.lift)} [${pts(r.low)}, ${pts(r.high)}]`)}</title></circle><text x="${labelW + plotW + 8}" y="${y + 4}" class="tick">${escapeHtml(pts(r.lift))}</text>`;
  });
  const title = 'Conversion lift per send (treatment − control) with its 95 % interval, oldest first';
  return `<figure class="wide"><figcaption>${escapeHtml(title)}</figcaption><svg width="${width}" height="${h}" viewBox="0 0 ${width} ${h}" role="img" aria-label="${escapeHtml(title)}">${zero}${marks.join('')}</svg></figure>`;
}

export function liftSection(d: LiftReportData | null | undefined): string {
  if (!d) return '';
  return measuredSection(d) + upliftSection(d.uplift) + nextBestActionSection(d.nextBestAction);
}

function measuredSection(d: LiftReportData): string {
  if (!d.measured.length && !d.unmeasured.length) return '';
  return `<section><h2>Measured campaigns</h2>
    ${d.measured.length ? liftChart(d.measured) : '<p>No send has been measured yet.</p>'}
    <p class="meaning">Each send's delivered list against its control group (held out, never delivered) over the
    measurement window after its cutoff. Green: the whole interval is above 0 (the campaign raised conversion);
    red: below 0; grey: the interval contains 0, so the lift, ROI and CAC are not measurable yet. Figures:
    <code>funnelcast measure</code>.</p>
    ${
      d.unmeasured.length
        ? table(
            ['run', 'campaign', 'why no lift'],
            d.unmeasured.map((u) => [u.runId, u.campaign, u.reason]),
          )
        : ''
    }
  </section>`;
}
