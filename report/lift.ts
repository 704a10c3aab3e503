/**
 * The report's section on measured campaigns: each send's conversion lift (treatment − control) as a point with
 * its 95 % interval around a zero line, oldest send first, so a campaign's lift reads both per campaign and over
 * time; sends without a measurement say why (window not passed, no control group).
 */
import type { RunSummary } from '../workflows/types';
import { escapeHtml, table } from './charts';
import { nextBestActionSection, upliftSection } from './uplift';
import { backtestSection, type BacktestRow } from './backtest';

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
  /** This run's lists at a past cutoff: realised vs expected vs a random list (report/backtest.ts). */
  backtests?: BacktestRow[];
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

const PALETTE = ['#2c7fb8', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02', '#a6761d'];

/**
 * Lift over time: each measured send at its cutoff (x, a time axis) with its 95 % interval (vertical whisker), one
 * colour per campaign joined in send order, around a dashed zero line, so a campaign's lift can be followed from
 * send to send (fatigue, seasonality, a changed targeting).
 */
export function liftOverTimeChart(rows: LiftReportRow[]): string {
  const [W, H, left, right, top, bottom] = [700, 260, 60, 150, 14, 36];
  const t = rows.map((r) => Date.parse(`${r.cutoff.replace(' ', 'T')}Z`));
  const [t0, t1] = [Math.min(...t), Math.max(...t)];
  const lo = Math.min(0, ...rows.map((r) => r.low));
  const hi = Math.max(0, ...rows.map((r) => r.high));
  // 20 px inside the axes on both sides, so the first and last sends' whiskers clear them.
  const span = W - left - right - 40;
  const x = (v: number) => left + 20 + (t1 > t0 ? ((v - t0) / (t1 - t0)) * span : span / 2);
  const y = (v: number) => top + ((hi - v) / (hi - lo || 1)) * (H - top - bottom);
  const campaigns = [...new Set(rows.map((r) => r.campaign))];
  const series = campaigns.map((c, k) => {
    const color = PALETTE[k % PALETTE.length];
    const points = rows
      .map((r, i) => ({ r, x: x(t[i]) + (k - (campaigns.length - 1) / 2) * 4 }))
      .filter((p) => p.r.campaign === c);
    const line = points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${y(p.r.lift).toFixed(1)}`).join(' ');
    const marks = points.map(
      (p) =>
        `<path d="M${p.x.toFixed(1)},${y(p.r.low).toFixed(1)} V${y(p.r.high).toFixed(1)}" stroke="${color}" stroke-width="2"/><circle cx="${p.x.toFixed(1)}" cy="${y(p.r.lift).toFixed(1)}" r="4" fill="${color}"><title>${escapeHtml(`${c} ${p.r.cutoff.slice(0, 10)}: ${pts(p.r.lift)} [${pts(p.r.low)}, ${pts(p.r.high)}]`)}</title></circle>`,
    );
    const legend = `<rect x="${W - right + 12}" y="${top + k * 16}" width="10" height="10" fill="${color}"/><text class="label" x="${W - right + 26}" y="${top + k * 16 + 9}">${escapeHtml(c)}</text>`;
    return `<path d="${line}" stroke="${color}" fill="none" stroke-opacity="0.5"/>${marks.join('')}${legend}`;
  });
  const dates = [...new Set(rows.map((r) => r.cutoff.slice(0, 10)))];
  const ticks = dates.map(
    (d) =>
      `<text class="tick" x="${x(Date.parse(`${d}T00:00:00Z`)).toFixed(1)}" y="${H - bottom + 14}" text-anchor="middle">${escapeHtml(d)}</text>`,
  );
  const axis = `<path class="axis" fill="none" d="M${left},${top} V${H - bottom} H${W - right}"/><path d="M${left},${y(0).toFixed(1)} H${W - right}" stroke="#888" stroke-dasharray="3,3"/><text class="tick" x="${left - 6}" y="${y(0) + 3}" text-anchor="end">0</text><text class="tick" x="${left - 6}" y="${y(hi) + 8}" text-anchor="end">${escapeHtml(pts(hi))}</text><text class="tick" x="${left - 6}" y="${y(lo)}" text-anchor="end">${escapeHtml(pts(lo))}</text>`;
  const title = 'Conversion lift over time: each send at its cutoff, with its 95 % interval';
  return `<figure class="wide"><figcaption>${escapeHtml(title)}</figcaption><svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(title)}">${axis}${ticks.join('')}${series.join('')}</svg></figure>`;
}

export function liftSection(d: LiftReportData | null | undefined): string {
  if (!d) return '';
  return (
    backtestSection(d.backtests) +
    measuredSection(d) +
    upliftSection(d.uplift) +
    nextBestActionSection(d.nextBestAction)
  );
}

function measuredSection(d: LiftReportData): string {
  if (!d.measured.length && !d.unmeasured.length) return '';
  return `<section><h2>Measured campaigns</h2>
    ${d.measured.length ? `<div class="charts">${liftChart(d.measured)}${liftOverTimeChart(d.measured)}</div>` : '<p>No send has been measured yet.</p>'}
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
