/** How a campaign's split and measured lift are said to people (CLI, report, README). */
import type { CampaignMeasurement } from './run';
import type { LiftResult } from './measure';
import type { ExportRef, MeasuredCampaignRef, RunSummary } from '../workflows/types';
import type { UpliftForecast } from './forecast';

/** "450 delivered, 50 held out as control (10 %)", or why there is no control group. */
export function controlSplitWords(control: { share: number; rows: number }, delivered: number): string {
  if (control.share <= 0)
    return `${delivered.toLocaleString('en-US')} delivered, no control group: lift cannot be measured`;
  const pct = Math.round(control.share * 1000) / 10;
  return `${delivered.toLocaleString('en-US')} delivered, ${control.rows.toLocaleString('en-US')} held out as control (${pct} %)`;
}

const pts = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(2)} pts`;
const signed = (x: number, d = 2) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(d)}`;
const interval = (i: { low: number; high: number }, f: (x: number) => string) => `[${f(i.low)}, ${f(i.high)}]`;

/** One campaign's measurement in a few lines (CLI and run summary). */
export function measurementLines(c: CampaignMeasurement): string[] {
  const head = `${c.campaign}: ${c.window.length} window ${c.window.from.slice(0, 10)} → ${c.window.to.slice(0, 10)}`;
  if (!c.result) return [`${head}: ${c.status === 'pending' ? 'not yet measurable' : 'no lift'}: ${c.reason}`];
  const r = c.result;
  const cur = r.currency ?? '';
  const money = (x: number) => `${signed(x)}${cur ? ` ${cur}` : ''}`;
  const figure = (name: string, f: LiftResult['roi'], fmt: (x: number) => string) =>
    f.value === null
      ? `${name} ${f.reason}`
      : `${name} ${fmt(f.value)}${'interval' in f && f.interval ? ` ${interval(f.interval, fmt)}` : ''}`;
  return [
    head,
    `  treatment ${r.treatment.users.toLocaleString('en-US')} users, ${(r.treatment.rate * 100).toFixed(2)} % converted, ${r.treatment.revenuePerUser.toFixed(2)}${cur ? ` ${cur}` : ''} per user; ` +
      `control ${r.control.users.toLocaleString('en-US')} users, ${(r.control.rate * 100).toFixed(2)} %, ${r.control.revenuePerUser.toFixed(2)}${cur ? ` ${cur}` : ''} per user`,
    `  lift ${pts(r.absoluteLift.estimate)} ${interval(r.absoluteLift, pts)} (95 %)` +
      (r.relativeLift
        ? `, relative ${signed(r.relativeLift.estimate * 100, 1)} % ${interval(r.relativeLift, (x) => `${signed(x * 100, 1)} %`)}`
        : '') +
      `; revenue per user ${money(r.revenuePerUserLift.estimate)} ${interval(r.revenuePerUserLift, money)} (Welch)`,
    `  incremental ${signed(r.incrementalConversions.estimate, 1)} conversions ${interval(r.incrementalConversions, (x) => signed(x, 1))}, ` +
      `revenue ${money(r.incrementalRevenue.estimate)}; cost ${r.cost === null ? '— (no economics)' : `${r.cost.toFixed(2)} ${cur}`}`,
    `  ${figure('ROI', r.roi, (x) => `${signed(x * 100, 1)} %`)}`,
    `  ${figure('CAC', r.cac, (x) => `${x.toFixed(2)} ${cur}`)}`,
  ];
}

/** One earlier send as a run's measurement step found it (the run summary's `measured` lines). */
export function measuredLine(m: MeasuredCampaignRef): string {
  const what = `${m.campaign} sent ${m.cutoff.slice(0, 10)} (run ${m.runId})`;
  if (!m.lift) return `${what}: ${m.reason}`;
  return `${what}: conversion lift ${pts(m.lift.estimate)} ${interval(m.lift, pts)} (95 %); details in ${m.measurementPath}`;
}

/** "backtest: 12.0 % converted vs 3.1 % for a random list of the same size (3.9×); realised / expected 0.95". */
export function backtestWords(b: NonNullable<ExportRef['backtest']>): string {
  const over = b.liftOverRandom === null ? '' : ` (${b.liftOverRandom.toFixed(2)}× a random list)`;
  const cal = b.realisedOverExpected === null ? '' : `; realised / expected ${b.realisedOverExpected.toFixed(2)}`;
  return `backtest: ${(b.realisedRate * 100).toFixed(1)} % converted vs ${(b.randomRate * 100).toFixed(1)} % for a random list of the same size${over}${cal}`;
}

/** A run's uplift models and their predictions before send (CLI summary lines; each says it is a prediction). */
export function upliftLines(u: NonNullable<RunSummary['uplift']>): string[] {
  const lines: string[] = [];
  for (const m of u.campaigns) {
    const sends = m.sends.map((s) => `${s.cutoff.slice(0, 10)} (${s.treatment + s.control} users)`).join(', ');
    const p = m.propensityHoldout;
    lines.push(
      `${m.campaign}: T-learner trained on ${m.trainUsers.toLocaleString('en-US')} users of the measured sends ${sends}; ` +
        `held-out Qini ${m.holdout.qini.toFixed(3)}, AUUC ${m.holdout.auuc.toFixed(3)}, uplift@30 % ${pts(m.holdout.upliftAt30)}` +
        (p ? ` (propensity ranking: Qini ${p.qini.toFixed(3)}, uplift@30 % ${pts(p.upliftAt30)})` : ''),
    );
    const f = u.forecast.find((x) => x.campaign === m.campaign);
    if (f) lines.push(`  PREDICTED ${forecastWords(f)}`);
  }
  return lines;
}

/** "+12.3 incremental conversions, revenue +456.00 EUR, cost 80.00 EUR, ROI +470.0 %, CAC 6.50 EUR over 400 delivered". */
export function forecastWords(f: UpliftForecast): string {
  const cur = f.currency ? ` ${f.currency}` : '';
  const fig = (name: string, x: UpliftForecast['roi'], fmt: (v: number) => string) =>
    x.value === null ? `${name} — (${x.reason})` : `${name} ${fmt(x.value)}`;
  return (
    `for the ${f.delivered.toLocaleString('en-US')} delivered users: ${signed(f.incrementalConversions, 1)} incremental conversions` +
    (f.incrementalRevenue === null ? '' : `, revenue ${signed(f.incrementalRevenue)}${cur}`) +
    (f.cost === null ? '' : `, cost ${f.cost.toFixed(2)}${cur}`) +
    `, ${fig('ROI', f.roi, (v) => `${signed(v * 100, 1)} %`)}, ${fig('CAC', f.cac, (v) => `${v.toFixed(2)}${cur}`)}`
  );
}

/** One line per segment: its next best action with the evidence, or "not enough evidence" and why. */
export function nextBestActionLines(n: NonNullable<RunSummary['nextBestAction']>): string[] {
  return n.segments.map(
    (s) =>
      `${s.segment} (${s.users.toLocaleString('en-US')} users of the sends): ` +
      (s.best ? `${s.best.campaign} ("${s.best.action}"): ${s.reason}` : s.reason),
  );
}
