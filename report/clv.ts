/**
 * The report's customer-lifetime-value section: what the models are (BG/NBD + Gamma-Gamma and their parameters,
 * in the pipeline's time unit), how they did on the backtest (predicted vs realised repeat purchases per repeat
 * count, the check `lifetimes` users plot), how value is spread, and who is worth most.
 */
import type { ClvRef } from '../workflows/types';
import type { ClvOverview } from '../warehouse/clv';
import { escapeHtml, table } from './charts';

export interface ClvReportData {
  ref: ClvRef;
  overview: ClvOverview;
}

const money = (v: number) => v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** Predicted and realised mean repeat purchases per bucket, as paired bars (SVG, no script). */
function backtestChart(buckets: NonNullable<ClvRef['validation']>['buckets']): string {
  const W = 640,
    H = 240,
    left = 44,
    bottom = 34,
    top = 12;
  const max = Math.max(...buckets.flatMap((b) => [b.predicted, b.actual]), 1e-9);
  const slot = (W - left - 10) / buckets.length;
  const y = (v: number) => H - bottom - (v / max) * (H - bottom - top);
  const bars = buckets
    .map((b, i) => {
      const x = left + i * slot + slot * 0.15;
      const w = slot * 0.33;
      const label = i === buckets.length - 1 ? `${b.repeatPurchases}+` : String(b.repeatPurchases);
      return (
        `<rect x="${x.toFixed(1)}" y="${y(b.predicted).toFixed(1)}" width="${w.toFixed(1)}" height="${(H - bottom - y(b.predicted)).toFixed(1)}" fill="#3b6ea5"><title>predicted ${b.predicted.toFixed(2)}</title></rect>` +
        `<rect x="${(x + w).toFixed(1)}" y="${y(b.actual).toFixed(1)}" width="${w.toFixed(1)}" height="${(H - bottom - y(b.actual)).toFixed(1)}" fill="#e67e22"><title>realised ${b.actual.toFixed(2)}</title></rect>` +
        `<text class="tick" x="${(x + w).toFixed(1)}" y="${H - bottom + 14}" text-anchor="middle">${label}</text>`
      );
    })
    .join('');
  const axis = `<line class="axis" x1="${left}" y1="${H - bottom}" x2="${W - 10}" y2="${H - bottom}"/><line class="axis" x1="${left}" y1="${top}" x2="${left}" y2="${H - bottom}"/>`;
  const ticks = [0, 0.5, 1]
    .map(
      (t) =>
        `<text class="tick" x="${left - 4}" y="${y(t * max) + 3}" text-anchor="end">${(t * max).toFixed(1)}</text>`,
    )
    .join('');
  const legend = `<rect x="${W - 200}" y="${top}" width="10" height="10" fill="#3b6ea5"/><text class="label" x="${W - 186}" y="${top + 9}">predicted</text><rect x="${W - 120}" y="${top}" width="10" height="10" fill="#e67e22"/><text class="label" x="${W - 106}" y="${top + 9}">realised</text>`;
  const xLabel = `<text class="label" x="${(W + left) / 2}" y="${H - 4}" text-anchor="middle">repeat purchases before the backtest cutoff</text>`;
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="predicted vs realised repeat purchases">${axis}${ticks}${bars}${legend}${xLabel}</svg>`;
}

function paramsTable(r: Pick<ClvRef, 'bgnbd' | 'gammaGamma' | 'populationSpend'>, unit: string): string {
  return table(
    ['model', 'parameters', 'meaning'],
    [
      [
        'BG/NBD',
        `r ${r.bgnbd.r.toFixed(4)}, α ${r.bgnbd.alpha.toFixed(4)}, a ${r.bgnbd.a.toFixed(4)}, b ${r.bgnbd.b.toFixed(4)}`,
        `purchase rate ~ Gamma(r, α) per ${unit.replace(/s$/, '')}; drop-out chance after each purchase ~ Beta(a, b)`,
      ],
      [
        'Gamma-Gamma',
        `p ${r.gammaGamma.p.toFixed(3)}, q ${r.gammaGamma.q.toFixed(3)}, v ${r.gammaGamma.v.toFixed(3)}`,
        `spend per purchase; a customer without repeats is expected to spend ${money(r.populationSpend)} (the population mean)`,
      ],
    ],
  );
}

export function renderClvSection(d: ClvReportData | null | undefined): string {
  if (!d) return '';
  const { ref, overview } = d;
  const v = ref.validation;
  const backtest = v
    ? `<h3>Backtest: fitted at ${escapeHtml(v.cutoff)}, judged on ${escapeHtml(v.cutoff)} → ${escapeHtml(v.until)}</h3>
       <p>Mean repeat purchases per customer in the ${escapeHtml(ref.horizon)} after the backtest cutoff, predicted by the models fitted then
       and realised in the data, by how many repeat purchases the customers had made before it (${v.customers.toLocaleString('en-US')} customers;
       predicted ${v.buckets.reduce((s, b) => s + b.predicted * b.customers, 0).toFixed(0)}, realised ${v.buckets.reduce((s, b) => s + b.actual * b.customers, 0).toFixed(0)} in total).</p>
       <figure class="wide">${backtestChart(v.buckets)}</figure>
       ${table(
         ['repeat purchases before', 'customers', 'predicted (mean)', 'realised (mean)'],
         v.buckets.map((b, i) => [
           i === v.buckets.length - 1 ? `${b.repeatPurchases} or more` : b.repeatPurchases,
           b.customers,
           b.predicted,
           b.actual,
         ]),
       )}
       ${paramsTable(v, ref.unit)}`
    : `<p>No backtest: the data does not yet cover ${escapeHtml(ref.horizon)} after the training cutoff.</p>`;
  return `<section><h2>Customer lifetime value</h2>
  <p>Expected value per customer over the next ${escapeHtml(ref.horizon)} from the cutoff ${escapeHtml(ref.cutoff)}${ref.annualDiscountRate ? `, discounted at ${(ref.annualDiscountRate * 100).toFixed(1)} % a year` : ', undiscounted'}:
  expected purchases (BG/NBD) × expected spend per purchase (Gamma-Gamma). Customers are the ${ref.customers.toLocaleString('en-US')} of
  ${ref.users.toLocaleString('en-US')} users with a purchase before the cutoff; the others have no value column. Total expected value ${money(overview.total)}.</p>
  ${paramsTable(ref, ref.unit)}
  <h3>How value is spread</h3>
  ${table(
    ['percentile of customers', 'CLV at or below'],
    overview.percentiles.map((p) => [p.percentile === 100 ? 'maximum' : `${p.percentile}th`, money(p.clv)]),
  )}
  <h3>Most valuable customers</h3>
  ${table(
    ['user', 'CLV', 'expected purchases', 'P(alive)', 'repeat purchases so far'],
    overview.top.map((t) => [t.userId, money(t.clv), t.expectedPurchases, t.pAlive, t.repeatPurchases]),
  )}
  ${backtest}</section>`;
}
