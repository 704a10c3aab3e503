/**
 * The report's drawing primitives: inline SVG line and bar charts, an HTML table, escaping. Hand-written because no
 * installed library renders SVG charts server-side, and the charts are simple lines and bars. Every text that
 * comes from data is escaped.
 */
export const escapeHtml = (s: unknown) =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

export const f3 = (x: number | null | undefined) => (x == null || !Number.isFinite(x) ? '—' : x.toFixed(3));
const W = 360;
const H = 260;
const M = { l: 46, r: 12, t: 12, b: 40 };

/** A line chart in [0,1]×[0,1] (or given y max) with axes, ticks and labels. */
export function lineChart(opts: {
  title: string;
  xLabel: string;
  yLabel: string;
  series: { x: number[]; y: number[]; color: string; name: string }[];
  diagonal?: boolean;
  /** What the dashed diagonal stands for, in the legend ("random ranking", "perfect calibration"). */
  diagonalName?: string;
  yMax?: number;
  /** A sentence under the chart (what its numbers mean), shown as text, not only as a tooltip. */
  note?: string;
}): string {
  const yMax = opts.yMax ?? 1;
  const sx = (x: number) => M.l + x * (W - M.l - M.r);
  const sy = (y: number) => H - M.b - (Math.min(y, yMax) / yMax) * (H - M.t - M.b);
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const axes = [
    `<line x1="${M.l}" y1="${H - M.b}" x2="${W - M.r}" y2="${H - M.b}" class="axis"/>`,
    `<line x1="${M.l}" y1="${M.t}" x2="${M.l}" y2="${H - M.b}" class="axis"/>`,
    ...ticks.map((t) => `<text x="${sx(t)}" y="${H - M.b + 14}" class="tick" text-anchor="middle">${t}</text>`),
    ...ticks.map(
      (t) =>
        `<text x="${M.l - 6}" y="${sy(t * yMax) + 4}" class="tick" text-anchor="end">${+(t * yMax).toFixed(2)}</text>`,
    ),
    `<text x="${(M.l + W - M.r) / 2}" y="${H - 6}" class="label" text-anchor="middle">${escapeHtml(opts.xLabel)}</text>`,
    `<text x="12" y="${(M.t + H - M.b) / 2}" class="label" text-anchor="middle" transform="rotate(-90 12 ${(M.t + H - M.b) / 2})">${escapeHtml(opts.yLabel)}</text>`,
  ];
  const diag = opts.diagonal ? `<path d="M${sx(0)},${sy(0)} L${sx(1)},${sy(yMax)}" class="ref"/>` : '';
  const lines = opts.series.map(
    (s) =>
      `<path d="${s.x.map((x, i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(s.y[i]).toFixed(1)}`).join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"><title>${escapeHtml(s.name)}</title></path>`,
  );
  // A visible legend under the plot (a <title> alone shows only on hover): one swatch per line, and the dashed
  // reference when there is one.
  const legend = [
    ...opts.series.map(
      (s) => `<li><span class="swatch" style="background:${s.color}"></span>${escapeHtml(s.name)}</li>`,
    ),
    ...(opts.diagonal && opts.diagonalName
      ? [`<li><span class="swatch ref"></span>${escapeHtml(opts.diagonalName)}</li>`]
      : []),
  ];
  return `<figure><figcaption>${escapeHtml(opts.title)}</figcaption><svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(opts.title)}">${axes.join('')}${diag}${lines.join('')}</svg><ul class="legend">${legend.join('')}</ul>${opts.note ? `<p class="note">${escapeHtml(opts.note)}</p>` : ''}</figure>`;
}

/** Horizontal bars with value labels. */
export function barChart(
  title: string,
  bars: { label: string; value: number; note?: string }[],
  color = '#3b6ea5',
): string {
  const rowH = 22;
  const labelW = 170;
  const width = 640;
  const h = Math.max(40, bars.length * rowH + 10);
  const max = Math.max(...bars.map((b) => b.value), 1e-12);
  const rows = bars.map((b, i) => {
    // Bars take at most half of the plot so the value notes beside them always fit.
    const w = Math.max(1, (b.value / max) * (width - labelW) * 0.5);
    const y = 5 + i * rowH;
    return `<text x="${labelW - 6}" y="${y + 14}" class="tick" text-anchor="end">${escapeHtml(b.label)}</text><path d="M${labelW},${y + 3} h${w.toFixed(1)} v15 h-${w.toFixed(1)} Z" fill="${color}"><title>${escapeHtml(b.label)}: ${escapeHtml(b.note ?? b.value)}</title></path><text x="${labelW + w + 4}" y="${y + 14}" class="tick">${escapeHtml(b.note ?? +b.value.toFixed(3))}</text>`;
  });
  return `<figure class="wide"><figcaption>${escapeHtml(title)}</figcaption><svg width="${width}" height="${h}" viewBox="0 0 ${width} ${h}" role="img" aria-label="${escapeHtml(title)}">${rows.join('')}</svg></figure>`;
}

export function table(headers: string[], rows: unknown[][]): string {
  return `<table><thead><tr>${headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map(
      (r) =>
        `<tr>${r.map((c) => `<td>${escapeHtml(typeof c === 'number' ? (Number.isInteger(c) ? c.toLocaleString('en-US') : f3(c)) : c)}</td>`).join('')}</tr>`,
    )
    .join('')}</tbody></table>`;
}
