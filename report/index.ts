/**
 * The run report: one self-contained HTML page (no network, no scripts) with inline SVG charts drawn here —
 * hand-written because no installed library renders SVG charts server-side, and the charts are simple lines and
 * bars. Every text that comes from data is escaped.
 */
import { writeFileAtomic } from '../infra/atomic';
import { barChart, escapeHtml, f3, lineChart, table } from './charts';
import { marketerSection, type MarketerData } from './marketer';
import { liftSection, type LiftReportData } from './lift';

export { barChart, escapeHtml, lineChart } from './charts';
import { renderClvSection, type ClvReportData } from './clv';
import type { EngineSelection, ParamSearch } from '../workflows/types';
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
    baselines?: { engine: string; metrics: Record<string, number> | null }[];
    /** engine "auto": the candidates' cross-validated primary metric and the one chosen. */
    selection?: EngineSelection | null;
    /** model.search: the trials and the settings kept. */
    search?: ParamSearch | null;
    /** The LSTM's training sample when it did not use every sequence (model.lstm.maxTrainSequences). */
    lstmTrainSequences?: { available: number; used: number } | null;
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
  const h = d.metrics.holdout ?? {};
  const cards = [
    ...extractCards(d.counts),
    ['users', d.counts.users.toLocaleString('en-US')],
    ['label rate', d.counts.labelRate == null ? '—' : `${(d.counts.labelRate * 100).toFixed(1)}%`],
    ['holdout ROC AUC', f3(h.roc_auc)],
    ['PR AUC', f3(h.pr_auc)],
    ['model', d.modelVersion ?? '—'],
    ...(d.metrics.lstmTrainSequences && d.metrics.lstmTrainSequences.used < d.metrics.lstmTrainSequences.available
      ? [
          [
            'LSTM training sequences',
            `${d.metrics.lstmTrainSequences.used.toLocaleString('en-US')} of ${d.metrics.lstmTrainSequences.available.toLocaleString('en-US')} (stratified sample; every user scored)`,
          ],
        ]
      : []),
    ...(d.customerAttributes
      ? [
          [
            'customer attributes',
            d.customerAttributes === 'static'
              ? 'static (declared never to change; not point-in-time)'
              : 'as of the cutoff (valid-from)',
          ],
        ]
      : []),
    ...(d.metrics.churn
      ? [
          ['churn model ROC AUC', f3(d.metrics.churn.metrics?.roc_auc)],
          ['customers who churned', `${(d.metrics.churn.churnRate * 100).toFixed(1)}%`],
        ]
      : []),
  ];
  const charts: string[] = [];
  const cmp = d.champion?.comparison ?? null;
  const cvLift = d.metrics.cv?.lift ?? [];
  const cvCal = d.metrics.cv?.calibration ?? [];
  if (d.curves) {
    charts.push(
      lineChart({
        title: 'ROC curve',
        diagonalName: 'random ranking',
        xLabel: 'false positive rate',
        yLabel: 'true positive rate',
        diagonal: true,
        series: [
          { x: d.curves.roc.fpr, y: d.curves.roc.tpr, color: '#c0392b', name: `${d.engine} (AUC ${f3(h.roc_auc)})` },
          ...(cmp?.roc
            ? [
                {
                  x: cmp.roc.fpr,
                  y: cmp.roc.tpr,
                  color: '#7f8c8d',
                  name: `champion ${cmp.version} (AUC ${f3(cmp.metrics.roc_auc)})`,
                },
              ]
            : []),
        ],
      }),
    );
    charts.push(
      lineChart({
        title: 'Precision–recall',
        xLabel: 'recall',
        yLabel: 'precision',
        series: [
          {
            x: d.curves.pr.recall,
            y: d.curves.pr.precision,
            color: '#8e44ad',
            name: `${d.engine} (AP ${f3(h.pr_auc)})`,
          },
        ],
      }),
    );
    charts.push(
      lineChart({
        title: 'Cumulative gains by decile',
        diagonalName: 'random order',
        xLabel: 'share of users contacted (by score)',
        yLabel: 'share of converters reached',
        diagonal: true,
        series: [
          {
            x: [0, ...d.curves.lift.map((l) => l.decile / 10)],
            y: [0, ...d.curves.lift.map((l) => l.cumulativeGain)],
            color: '#27ae60',
            name: 'cumulative gains',
          },
        ],
      }),
    );
    charts.push(
      lineChart({
        title: 'Calibration',
        diagonalName: 'perfect calibration',
        xLabel: 'mean predicted probability',
        yLabel: 'observed conversion rate',
        diagonal: true,
        note: calibrationNote(h),
        series: [
          {
            x: d.curves.calibration.map((c) => c.meanPredicted),
            y: d.curves.calibration.map((c) => c.fractionPositive),
            color: '#d35400',
            name: `holdout (plug-in ECE ${f3(h.ece)}, debiased ${f3(h.ece_debiased)}, Σp ÷ positives ${f3(h.predicted_to_observed)})`,
          },
          ...(cvCal.length
            ? [
                {
                  x: cvCal.map((c) => c.meanPredicted),
                  y: cvCal.map((c) => c.fractionPositive),
                  color: '#2c7fb8',
                  // Pooled bins hold every fold's users, so this is the ECE of all out-of-fold predictions.
                  name: `CV folds pooled (ECE ${f3(cvCal.reduce((a, c) => a + c.count * Math.abs(c.meanPredicted - c.fractionPositive), 0) / cvCal.reduce((a, c) => a + c.count, 0))})`,
                },
              ]
            : []),
        ],
      }),
    );
    charts.push(
      barChart(
        'Lift by decile (1 = top 10 % of scores)',
        d.curves.lift.map((l) => ({ label: `decile ${l.decile}`, value: l.lift, note: `${l.lift.toFixed(2)}×` })),
        '#27ae60',
      ),
    );
  }
  if (cvLift.length)
    charts.push(
      barChart(
        `Lift by decile over ${d.metrics.cv?.folds.length ?? 0} CV folds (mean ± std)`,
        cvLift.map((l) => ({
          label: `decile ${l.decile}`,
          value: l.lift,
          note: `${l.lift.toFixed(2)}× ± ${l.liftStd.toFixed(2)}`,
        })),
        '#1e8449',
      ),
    );
  if (d.importances.length)
    charts.push(
      barChart(
        'Feature importances (top 15)',
        d.importances.slice(0, 15).map((i) => ({ label: i.name, value: i.importance })),
      ),
    );
  if (d.funnel.length)
    charts.push(
      barChart(
        'Funnel before the cutoff (users reaching each stage after the previous one)',
        d.funnel.map((f) => ({
          label: f.stage,
          value: f.users,
          note: funnelNote(f),
        })),
        '#2c7fb8',
      ),
    );

  const metricNames = [
    'roc_auc',
    'pr_auc',
    'log_loss',
    'brier',
    'accuracy',
    'precision',
    'recall',
    'f1',
    'best_f1',
    'top_decile_lift',
  ];
  const metricRows = metricNames
    .filter((m) => m in h)
    .map((m) => [
      m,
      h[m],
      d.metrics.cv?.mean[m] ?? null,
      d.metrics.cv?.std[m] ?? null,
      ...(d.metrics.baselines ?? []).map((b) => b.metrics?.[m] ?? null),
    ]);
  const championSection = !d.champion
    ? '<p>Not published.</p>'
    : `${(d.champion.warnings ?? []).map((w) => `<p class="decision challenger"><strong>Warning:</strong> ${escapeHtml(w)}</p>`).join('')}${
        d.champion.f1
          ? `<p>F1 ${d.champion.f1.f1.toFixed(3)} (precision ${d.champion.f1.precision.toFixed(3)}, recall ${d.champion.f1.recall.toFixed(3)}) at threshold ${d.champion.f1.threshold.toFixed(3)}: the ${escapeHtml(d.champion.f1.chosenBy)}.</p>`
          : ''
      }<p class="decision ${escapeHtml(d.champion.decision)}">${escapeHtml(d.champion.decision)}: ${escapeHtml(d.champion.reason)}</p>
<p>champion now: <code>${escapeHtml(d.champion.version ?? '—')}</code></p>${
        cmp
          ? `<p>Compared with the previous champion <code>${escapeHtml(cmp.version)}</code> ${cmp.sameRows ? 'on the same held-out users' : `— not comparable on these rows: ${escapeHtml(cmp.why ?? 'it cannot score them')}; its recorded value below comes from other rows`}; gate: ${escapeHtml(cmp.metric)} no worse than the champion's by more than ${cmp.tolerance}.</p>${table(
              ['metric', 'this model', 'champion', 'difference'],
              metricNames
                .filter((k) => k in h && k in cmp.metrics)
                .map((k) => [k, h[k], cmp.metrics[k], h[k] - cmp.metrics[k]]),
            )}`
          : '<p>No earlier champion: this is the first model of the pipeline.</p>'
      }`;
  const m = d.marketer;
  const marketer =
    (m ? marketerSection(m, d) : '') +
    liftSection(d.lift) +
    (d.webhook?.length
      ? `<section><h2>Deliveries</h2>${table(
          ['list', 'outcome', 'rows', 'batches', 'why'],
          d.webhook.map((w) => [w.list, w.outcome, w.rows, w.batches, w.reason ?? '']),
        )}<p>Every delivery is in the log: <code>funnelcast deliveries --pipeline ${escapeHtml(d.pipeline)}</code>.</p></section>`
      : '');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>funnelcast · ${escapeHtml(d.pipeline)} · ${escapeHtml(d.runId)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2733;background:#f6f7f9}
header{background:#1d2733;color:#fff;padding:18px 28px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#c9d3de}
main{padding:18px 28px;max-width:1200px}section{background:#fff;border-radius:8px;padding:14px 18px;margin:0 0 16px;box-shadow:0 1px 2px #0001}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:10px}.card{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px #0001}
.card b{display:block;font-size:18px;overflow-wrap:anywhere}.card b.long{font-size:13px}
.legend{list-style:none;margin:4px 0 0;padding:0;font-size:12px}.legend li{display:inline-block;margin-right:12px}
.swatch{display:inline-block;width:14px;height:3px;margin-right:5px;vertical-align:middle}.swatch.ref{border-top:2px dashed #b8c2cc;height:0}.card span{color:#5b6b7c;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:14px}figure{margin:0;flex:0 1 380px}figure.wide{flex:1 1 480px}figcaption{font-weight:600;margin-bottom:4px}figure p.note{font-size:12px;color:#555;margin:4px 0 0}
svg{max-width:100%;height:auto;background:#fbfcfd;border:1px solid #e3e7ec;border-radius:6px}.axis{stroke:#7b8794}.ref{stroke:#b8c2cc;stroke-dasharray:4 4;fill:none}
.tick{font-size:10px;fill:#4a5866}.label{font-size:11px;fill:#1d2733}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border-bottom:1px solid #e3e7ec;padding:4px 10px;text-align:left}th{background:#f0f3f6}
.decision{font-weight:600}.promoted,.first{color:#1e8449}.challenger{color:#b9770e}code{background:#f0f3f6;padding:1px 4px;border-radius:3px}
@media print{body{background:#fff}section{box-shadow:none;border:1px solid #ddd}}
</style></head><body>
<header><h1>${escapeHtml(d.pipeline)}: run ${escapeHtml(d.runId)}</h1>
<p>cutoff ${escapeHtml(d.cutoff)} · horizon ${escapeHtml(d.horizon)} · engine ${escapeHtml(d.engine)}${d.backend ? ` (${escapeHtml(d.backend)})` : ''} · generated ${escapeHtml(d.generatedAt)}</p></header>
<main>
<section class="cards">${cards.map(([k, v]) => `<div class="card"><b${v.length > 14 ? ' class="long"' : ''}>${escapeHtml(v)}</b><span>${escapeHtml(k)}</span></div>`).join('')}</section>
<section><h2>Champion / challenger</h2>${championSection}</section>
<section><h2>Model quality</h2>${selectionTable(d.metrics.selection)}${searchTable(d.metrics.search)}${table(['metric', 'holdout', 'CV mean', 'CV std', ...(d.metrics.baselines ?? []).map((b) => `baseline ${b.engine}`)], metricRows)}<div class="charts">${charts.join('')}</div></section>
${marketer}
${renderClvSection(d.clv)}
<section><h2>Lineage</h2>${table(
    ['what', 'value'],
    Object.entries(d.lineage).map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : v]),
  )}</section>
</main></body></html>
`;
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

/**
 * The calibration chart's caption: the holdout's debiased calibration error (what the ≤ 0.02 target is read on),
 * the plug-in ECE the bins show, and Σp ÷ positives beside the range chance alone allows (docs/calibration.md).
 */
function calibrationNote(h: Record<string, number>): string {
  const ratio = `Σp ÷ positives ${f3(h.predicted_to_observed)}`;
  if (h.ece_debiased == null) return `Holdout: plug-in ECE ${f3(h.ece)}, ${ratio}.`;
  return (
    `Holdout (${h.n} users): debiased calibration error ${f3(h.ece_debiased)} (Kumar et al. 2019; the ≤ 0.02 ` +
    `target is read on it), plug-in ECE ${f3(h.ece)} (includes sampling noise); ${ratio}, where chance alone ` +
    `would give ${f3(h.predicted_to_observed_low)}–${f3(h.predicted_to_observed_high)} (90 %) for a calibrated model.`
  );
}
