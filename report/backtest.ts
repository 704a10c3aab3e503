/**
 * The report's backtests of targeting: at a past cutoff the outcomes of the horizon are known, so each list's
 * realised conversions stand beside what the model expected (the sum of calibrated propensities) and what a random
 * list of the same size would have realised (the base rate of every scored user), as grouped bars and a table:
 * lift over random says how much the targeting was worth, realised ÷ expected whether the expectation was right.
 */
import type { ExportRef } from '../workflows/types';
import { escapeHtml, f3, table } from './charts';

export interface BacktestRow {
  campaign: string;
  rows: number;
  expected: number;
  realised: number;
  backtest: NonNullable<ExportRef['backtest']>;
}

const SERIES = [
  { key: 'expected', name: 'expected (Σ propensity)', color: '#3b6ea5' },
  { key: 'realised', name: 'realised', color: '#27ae60' },
  { key: 'random', name: 'random list, same size', color: '#95a5a6' },
] as const;

/** Conversions per list: expected, realised and a random list's, side by side. */
export function backtestChart(rows: BacktestRow[]): string {
  const W = 700;
  const left = 50;
  const top = 24;
  const H = 300;
  // Room for the list names, slanted so long ones do not overlap.
  const bottom = 100;
  const value = (r: BacktestRow, k: (typeof SERIES)[number]['key']) =>
    k === 'expected' ? r.expected : k === 'realised' ? r.realised : r.backtest.randomRate * r.rows;
  const max = Math.max(1e-9, ...rows.flatMap((r) => SERIES.map((s) => value(r, s.key))));
  const group = (W - left - 10) / rows.length;
  const w = Math.min(40, (group * 0.8) / SERIES.length);
  const y = (v: number) => H - bottom - (v / max) * (H - bottom - top);
  const bars = rows.map((r, i) => {
    const x0 = left + i * group + (group - w * SERIES.length) / 2;
    const rects = SERIES.map((s, k) => {
      const v = value(r, s.key);
      return `<rect x="${(x0 + k * w).toFixed(1)}" y="${y(v).toFixed(1)}" width="${(w - 2).toFixed(1)}" height="${(H - bottom - y(v)).toFixed(1)}" fill="${s.color}"><title>${escapeHtml(`${r.campaign}: ${s.name} ${v.toFixed(1)}`)}</title></rect>`;
    });
    return `${rects.join('')}<text class="tick" transform="translate(${(left + (i + 0.5) * group).toFixed(1)},${H - bottom + 12}) rotate(-35)" text-anchor="end">${escapeHtml(r.campaign)}</text>`;
  });
  const legend = SERIES.map(
    (s, k) =>
      `<rect x="${left + k * 190}" y="4" width="10" height="10" fill="${s.color}"/><text class="label" x="${left + k * 190 + 14}" y="13">${escapeHtml(s.name)}</text>`,
  );
  const axis = `<path class="axis" fill="none" d="M${left},${top - 4} V${H - bottom} H${W - 10}"/><text class="tick" x="${left - 6}" y="${top + 4}" text-anchor="end">${max.toFixed(0)}</text><text class="tick" x="${left - 6}" y="${H - bottom}" text-anchor="end">0</text>`;
  const title = 'Conversions per list at this past cutoff: expected, realised, and a random list of the same size';
  return `<figure class="wide"><figcaption>${escapeHtml(title)}</figcaption><svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(title)}">${axis}${bars.join('')}${legend.join('')}</svg></figure>`;
}

export function backtestSection(rows: BacktestRow[] | undefined): string {
  if (!rows?.length) return '';
  return `<section><h2>Backtests of targeting</h2>
    <p class="meaning">This run's cutoff is in the past, so the outcomes of the horizon after it are known: each list's
    users who converted (realised) beside the model's expectation and beside a random list of the same size (the
    share of every scored user who converted). Lift over random = realised rate ÷ random rate: what the targeting
    was worth. Realised ÷ expected = 1 when the calibrated propensities were right (calibration of the expectation).
    Compare definitions by these figures on the same cutoff.</p>
    ${backtestChart(rows)}
    ${table(
      [
        'list',
        'users',
        'expected',
        'realised',
        'random list',
        'realised rate',
        'random rate',
        'lift over random',
        'realised ÷ expected',
      ],
      rows.map((r) => [
        r.campaign,
        r.rows,
        r.expected.toFixed(1),
        r.realised,
        (r.backtest.randomRate * r.rows).toFixed(1),
        `${(r.backtest.realisedRate * 100).toFixed(2)} %`,
        `${(r.backtest.randomRate * 100).toFixed(2)} %`,
        r.backtest.liftOverRandom === null ? '—' : `${f3(r.backtest.liftOverRandom)}×`,
        r.backtest.realisedOverExpected === null ? '—' : f3(r.backtest.realisedOverExpected),
      ]),
    )}
  </section>`;
}
