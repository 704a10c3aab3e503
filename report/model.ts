/**
 * The model part of the run report: the summary cards, the model's charts (ROC, precision–recall, gains,
 * calibration, lift, importances, funnel), the metrics table and the champion / challenger decision. Split out
 * of report/index.ts so each piece stays a function one can read at once.
 */
import { barChart, escapeHtml, f3, lineChart, table } from './charts';
import type { RunReportData } from './index';
import { extractCards, funnelNote } from './index';
import { trainingSampleWords } from '../ml/downsample';

export function summaryCards(d: RunReportData): string[][] {
  const h = d.metrics.holdout ?? {};
  return [
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
    ...(d.metrics.trainingSample ? [['training rows', trainingSampleWords(d.metrics.trainingSample)]] : []),
    ...(d.metrics.baselines ?? []).flatMap((b) =>
      b.trainingSample ? [[`${b.engine} baseline training rows`, trainingSampleWords(b.trainingSample)]] : [],
    ),
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
}

/** ROC (with the champion's on the same users), precision–recall and cumulative gains of the holdout. */
function rankingCharts(d: RunReportData, curves: NonNullable<RunReportData['curves']>): string[] {
  const h = d.metrics.holdout ?? {};
  const cmp = d.champion?.comparison ?? null;
  const charts: string[] = [];
  charts.push(
    lineChart({
      title: 'ROC curve',
      diagonalName: 'random ranking',
      xLabel: 'false positive rate',
      yLabel: 'true positive rate',
      diagonal: true,
      series: [
        { x: curves.roc.fpr, y: curves.roc.tpr, color: '#c0392b', name: `${d.engine} (AUC ${f3(h.roc_auc)})` },
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
          x: curves.pr.recall,
          y: curves.pr.precision,
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
          x: [0, ...curves.lift.map((l) => l.decile / 10)],
          y: [0, ...curves.lift.map((l) => l.cumulativeGain)],
          color: '#27ae60',
          name: 'cumulative gains',
        },
      ],
    }),
  );
  return charts;
}

/** Calibration (holdout and pooled CV folds) and lift by decile of the holdout. */
function calibrationCharts(d: RunReportData, curves: NonNullable<RunReportData['curves']>): string[] {
  const h = d.metrics.holdout ?? {};
  const cvCal = d.metrics.cv?.calibration ?? [];
  const charts: string[] = [];
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
          x: curves.calibration.map((c) => c.meanPredicted),
          y: curves.calibration.map((c) => c.fractionPositive),
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
      curves.lift.map((l) => ({ label: `decile ${l.decile}`, value: l.lift, note: `${l.lift.toFixed(2)}×` })),
      '#27ae60',
    ),
  );
  return charts;
}

export function modelCharts(d: RunReportData): string[] {
  const cvLift = d.metrics.cv?.lift ?? [];
  const charts: string[] = d.curves ? [...rankingCharts(d, d.curves), ...calibrationCharts(d, d.curves)] : [];
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

  return charts;
}

export const METRIC_NAMES = [
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

/** Holdout, CV mean and std, and each baseline, per metric. */
export function metricRows(d: RunReportData): unknown[][] {
  const h = d.metrics.holdout ?? {};
  return METRIC_NAMES.filter((m) => m in h).map((m) => [
    m,
    h[m],
    d.metrics.cv?.mean[m] ?? null,
    d.metrics.cv?.std[m] ?? null,
    ...(d.metrics.baselines ?? []).map((b) => b.metrics?.[m] ?? null),
  ]);
}

export function championSection(d: RunReportData): string {
  const h = d.metrics.holdout ?? {};
  const cmp = d.champion?.comparison ?? null;
  return !d.champion
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
              METRIC_NAMES.filter((k) => k in h && k in cmp.metrics).map((k) => [
                k,
                h[k],
                cmp.metrics[k],
                h[k] - cmp.metrics[k],
              ]),
            )}`
          : '<p>No earlier champion: this is the first model of the pipeline.</p>'
      }`;
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
