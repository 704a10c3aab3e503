/**
 * The drift page of a run (drift.html beside report.html): what moved between the champion's training data and
 * this run's, and one chart per drifted feature (reference vs current share per bin of the reference's deciles).
 * The same charts, and the score distribution of this run against the last delivered lists', are a section of
 * report.html (driftSection).
 */
import type { DriftCheck } from '../ml/drift';

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Paired bars per bin: grey the reference, blue (red when blocking) the current. */
export function driftChartSvg(c: DriftCheck): string {
  const b = c.bins!;
  const n = b.reference.length;
  const w = 28;
  const h = 120;
  const max = Math.max(...b.reference, ...b.current, 1e-9);
  const bars = b.reference
    .map((r, k) => {
      const x = 30 + k * (2 * w + 8);
      const cur = b.current[k];
      const label = k < b.edges.length ? (k === b.edges.length - 1 ? '≥' : `<${+b.edges[k].toPrecision(3)}`) : 'NaN';
      return (
        `<rect x="${x}" y="${h - (r / max) * h}" width="${w}" height="${(r / max) * h}" fill="#bbb"><title>reference ${(100 * r).toFixed(1)}%</title></rect>` +
        `<rect x="${x + w}" y="${h - (cur / max) * h}" width="${w}" height="${(cur / max) * h}" fill="${c.level === 'block' ? '#c0392b' : '#2e86c1'}"><title>current ${(100 * cur).toFixed(1)}%</title></rect>` +
        `<text x="${x + w}" y="${h + 14}" font-size="10" text-anchor="middle">${esc(label)}</text>`
      );
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${40 + n * (2 * w + 8)}" height="${h + 20}" role="img" aria-label="${esc(c.name)}">${bars}</svg>`;
}

export function driftHtml(opts: { runId: string; champion: string; message: string; checks: DriftCheck[] }): string {
  const moved = opts.checks.filter((c) => c.level !== 'ok');
  const rows = opts.checks
    .map(
      (c) =>
        `<tr><td>${esc(c.name)}</td><td>${c.kind}</td><td>${c.value.toFixed(4)}</td><td>${c.reference ?? ''}</td><td>${c.current ?? ''}</td><td>${c.level}</td></tr>`,
    )
    .join('');
  const charts = moved
    .filter((c) => c.bins)
    .map((c) => `<h3>${esc(c.name)}: PSI ${c.value.toFixed(3)} (${c.level})</h3>${driftChartSvg(c)}`)
    .join('');
  return `<!doctype html><meta charset="utf-8"><title>Drift: ${esc(opts.runId)}</title>
<body style="font-family:sans-serif"><h1>Drift against the champion ${esc(opts.champion)}</h1><p>${esc(opts.message)}</p>
${charts}<h2>Every check</h2><table border="1" cellpadding="4"><tr><th>check</th><th>kind</th><th>value (PSI, or current / reference)</th><th>reference</th><th>current</th><th>level</th></tr>${rows}</table></body>`;
}

/** What report.html shows of the drift checks (read from the run's drift.json and score-drift.json). */
export interface DriftReportData {
  /** Before publishing: this run's training data against the champion's. */
  features: { champion: string | null; message: string; accepted: boolean; checks: DriftCheck[] } | null;
  /** Before delivery: this run's scores against those of the last delivered lists (`against`). */
  score: { against: string; message: string; accepted: boolean; check: DriftCheck } | null;
}

/**
 * report.html's drift section: what moved and a chart per drifted feature, then the score distribution of the
 * lists' version (grey) against this run's (blue, red when it blocks) whatever its level, so a reader sees how far
 * the scores moved before the lists went out.
 */
export function driftSection(d: DriftReportData | null | undefined): string {
  if (!d || (!d.features && !d.score)) return '';
  const accepted = (a: boolean) =>
    a ? ' <b>Accepted with --accept-drift (recorded in the champion history).</b>' : '';
  const f = d.features;
  const features = f
    ? `<h3>Features, labels and rows against the champion ${esc(f.champion ?? '')}</h3><p>${esc(f.message)}.${accepted(f.accepted)}</p>` +
      f.checks
        .filter((c) => c.level !== 'ok' && c.bins)
        .map((c) => `<h4>${esc(c.name)}: PSI ${c.value.toFixed(3)} (${c.level})</h4>${driftChartSvg(c)}`)
        .join('')
    : '';
  const s = d.score;
  const score = s
    ? `<h3>Score distribution: this run against the last delivered lists (${esc(s.against)})</h3>` +
      `<p>PSI ${s.check.value.toFixed(3)} (${s.check.level}): ${esc(s.message)}.${accepted(s.accepted)} ` +
      `Grey: the share of the delivered lists' scores in each bin (cut at their deciles); colour: this run's.</p>` +
      driftChartSvg(s.check)
    : '';
  return `<section><h2>Drift</h2>${features}${score}</section>`;
}
