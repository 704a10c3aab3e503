/**
 * The run report: one self-contained HTML page (no network, no scripts) with inline SVG charts drawn here —
 * hand-written because no installed library renders SVG charts server-side, and the charts are simple lines and
 * bars. Every text that comes from data is escaped.
 */
import { writeFileAtomic } from '../infra/atomic';
import { escapeHtml, table } from './charts';
import { championSection, metricRows, modelCharts, summaryCards } from './model';
import { PAGE_STYLE } from './style';
import { marketerSection, type MarketerData } from './marketer';
import { liftSection, type LiftReportData } from './lift';
import { driftSection, type DriftReportData } from './drift';

export { barChart, escapeHtml, lineChart } from './charts';
import { renderClvSection, type ClvReportData } from './clv';
import type { EngineSelection, ParamSearch, TrainingSampleRef } from '../workflows/types';
import { searchTable } from './search';

export interface RunReportData {
  pipeline: string;
  runId: string;
  cutoff: string;
  horizon: string;
  generatedAt: string;
  modelVersion: string | null;
  engine: string;
  backend?: string;
  counts: {
    read: number;
    loaded: number;
    duplicates: number;
    quarantined: number;
    users: number;
    labelRate: number | null;
    /** Events in the warehouse after the extract, and files skipped as already loaded (incremental runs). */
    events?: number;
    filesSkipped?: number;
  };
  metrics: {
    holdout: Record<string, number> | null;
    cv?: {
      mean: Record<string, number>;
      std: Record<string, number>;
      folds: Record<string, number>[];
      lift?: { decile: number; lift: number; liftStd: number; cumulativeGain: number; cumulativeGainStd: number }[];
      calibration?: { meanPredicted: number; fractionPositive: number; fractionPositiveStd: number; count: number }[];
    } | null;
    baselines?: { engine: string; metrics: Record<string, number> | null; trainingSample?: TrainingSampleRef }[];
    /** engine "auto": the candidates' cross-validated primary metric and the one chosen. */
    selection?: EngineSelection | null;
    /** model.search: the trials and the settings kept. */
    search?: ParamSearch | null;
    /** The LSTM's training sample when it did not use every sequence (model.lstm.maxTrainSequences). */
    lstmTrainSequences?: { available: number; used: number } | null;
    /** The forest's training rows when the majority class was downsampled (model.forest.downsampleMajority). */
    trainingSample?: TrainingSampleRef | null;
    churn?: { engine: string; users: number; churnRate: number; metrics: Record<string, number> | null } | null;
  };
  curves: {
    roc: { fpr: number[]; tpr: number[] };
    pr: { recall: number[]; precision: number[] };
    lift: { decile: number; lift: number; cumulativeGain: number }[];
    calibration: { meanPredicted: number; fractionPositive: number; count: number }[];
  } | null;
  importances: { name: string; importance: number }[];
  /** How customer attributes became features: as of the cutoff, declared static (not point-in-time), or none. */
  customerAttributes?: 'as-of' | 'static' | null;
  funnel: { stage: string; users: number; fromPrevious: number | null; medianHoursFromPrevious?: number | null }[];
  champion: {
    decision: string;
    reason: string;
    version: string | null;
    /** Failed sanity checks (a baseline beats the model), shown above the decision. */
    warnings?: string[];
    /** F1 at a threshold chosen on the CV folds, and how it was chosen. */
    f1?: { threshold: number; f1: number; precision: number; recall: number; chosenBy: string } | null;
    /** The champion before this run, scored on this model's held-out users. */
    comparison?: {
      version: string;
      metric: string;
      tolerance: number;
      sameRows: boolean;
      why?: string | null; // why the champion is not comparable on these rows (sameRows false)
      metrics: Record<string, number>;
      roc: { fpr: number[]; tpr: number[] } | null;
    } | null;
  } | null;
  marketer?: MarketerData | null;
  /** Customer lifetime value, when the pipeline defines it (report/clv.ts). */
  clv?: ClvReportData | null;
  /** Webhook deliveries of this run's lists (export.webhook). */
  webhook?: { list: string; outcome: string; rows: number; batches: number; reason?: string }[];
  /** Measured sends (lift vs control) and those not measurable yet (report/lift.ts). */
  lift?: LiftReportData | null;
  /** The drift checks before publishing and before delivery, when they compared with something (report/drift.ts). */
  drift?: DriftReportData | null;
  lineage: Record<string, unknown>;
}

/** "322 (63.5% of previous, median 5.2 h after it)": a step conversion, since each stage follows the previous one. */
export function funnelNote(f: RunReportData['funnel'][number]): string {
  const n = f.users.toLocaleString('en-US');
  if (f.fromPrevious == null) return n;
  const h = f.medianHoursFromPrevious;
  const time = h == null ? '' : `, median ${h < 48 ? `${h.toFixed(1)} h` : `${(h / 24).toFixed(1)} d`} after it`;
  return `${n} (${(f.fromPrevious * 100).toFixed(1)}% of previous${time})`;
}

/**
 * The extract tiles. An incremental run reads nothing new (its files are already loaded), so this run's counts are
 * 0/0/0: the tiles then show what the warehouse holds and say the files were unchanged, instead of zeros.
 */
export function extractCards(c: RunReportData['counts']): [string, string][] {
  const n = (x: number) => x.toLocaleString('en-US');
  if (c.events == null)
    return [
      ['rows read', n(c.read)],
      ['loaded', n(c.loaded)],
      ['quarantined', n(c.quarantined)],
    ];
  const unchanged = c.filesSkipped ? `${c.filesSkipped} file${c.filesSkipped === 1 ? '' : 's'} unchanged` : '';
  return [
    ['events in the warehouse', n(c.events)],
    ['rows loaded this run', c.read === 0 && unchanged ? `none (${unchanged})` : n(c.loaded)],
    ['quarantined this run', n(c.quarantined)],
  ];
}

export function renderRunReport(d: RunReportData): string {
  const cards = summaryCards(d);
  const charts = modelCharts(d);
  const rows = metricRows(d);
  const marketer = (d.marketer ? marketerSection(d.marketer, d) : '') + liftSection(d.lift) + deliveriesSection(d);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>funnelcast · ${escapeHtml(d.pipeline)} · ${escapeHtml(d.runId)}</title>
<style>${PAGE_STYLE}</style></head><body>
<header><h1>${escapeHtml(d.pipeline)}: run ${escapeHtml(d.runId)}</h1>
<p>cutoff ${escapeHtml(d.cutoff)} · horizon ${escapeHtml(d.horizon)} · engine ${escapeHtml(d.engine)}${d.backend ? ` (${escapeHtml(d.backend)})` : ''} · generated ${escapeHtml(d.generatedAt)}</p></header>
<main>
<section class="cards">${cards.map(([k, v]) => `<div class="card"><b${v.length > 14 ? ' class="long"' : ''}>${escapeHtml(v)}</b><span>${escapeHtml(k)}</span></div>`).join('')}</section>
<section><h2>Champion / challenger</h2>${championSection(d)}</section>
<section><h2>Model quality</h2>${selectionTable(d.metrics.selection)}${searchTable(d.metrics.search)}${table(['metric', 'holdout', 'CV mean', 'CV std', ...(d.metrics.baselines ?? []).map((b) => `baseline ${b.engine}`)], rows)}<div class="charts">${charts.join('')}</div></section>
${marketer}
${renderClvSection(d.clv)}
${driftSection(d.drift)}
<section><h2>Lineage</h2>${table(
    ['what', 'value'],
    Object.entries(d.lineage).map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : v]),
  )}</section>
</main></body></html>
`;
}

/** Webhook deliveries of this run's lists. */
function deliveriesSection(d: RunReportData): string {
  if (!d.webhook?.length) return '';
  return `<section><h2>Deliveries</h2>${table(
    ['list', 'outcome', 'rows', 'batches', 'why'],
    d.webhook.map((w) => [w.list, w.outcome, w.rows, w.batches, w.reason ?? '']),
  )}<p>Every delivery is in the log: <code>funnelcast deliveries --pipeline ${escapeHtml(d.pipeline)}</code>.</p></section>`;
}

/** engine "auto": the candidates side by side, the chosen one marked. */
function selectionTable(sel: EngineSelection | null | undefined): string {
  if (!sel) return '';
  return `<p>Engine chosen automatically: <b>${escapeHtml(sel.chosen)}</b>, the best cross-validated ${escapeHtml(sel.metric)} on this run's folds${sel.skipped.length ? ` (not tried within the ${sel.budgetSeconds / 60}-minute budget: ${escapeHtml(sel.skipped.join(', '))})` : ''}.</p>${table(
    ['candidate', `CV ${sel.metric} mean`, 'std', 'seconds', ''],
    sel.candidates.map((c) => [c.engine, c.mean, c.std, c.seconds, c.engine === sel.chosen ? 'chosen' : '']),
  )}`;
}

export async function writeRunReport(file: string, data: RunReportData): Promise<void> {
  writeFileAtomic(file, renderRunReport(data));
}
