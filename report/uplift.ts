/**
 * The report's section on uplift targeting: for each campaign that ranks by uplift, the model (trained on which
 * measured sends, its held-out Qini, AUUC and uplift@30 % beside the propensity ranking's) and what the list is
 * predicted to add before it is sent. Every predicted figure is labelled a prediction; measurements come later,
 * from the send's control group.
 */
import type { RunSummary } from '../workflows/types';
import { forecastWords } from '../lift/words';
import { escapeHtml, f3, table } from './charts';

const pts = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(2)} pts`;

export function upliftSection(u: RunSummary['uplift'] | null | undefined): string {
  if (!u || !u.campaigns.length) return '';
  const rows = u.campaigns.flatMap((m) => [
    [
      m.campaign,
      'uplift model (T-learner)',
      m.holdout.users,
      f3(m.holdout.qini),
      f3(m.holdout.auuc),
      pts(m.holdout.upliftAt30),
    ],
    ...(m.propensityHoldout
      ? [
          [
            m.campaign,
            'propensity ranking (what the sends ranked by)',
            m.propensityHoldout.users,
            f3(m.propensityHoldout.qini),
            f3(m.propensityHoldout.auuc),
            pts(m.propensityHoldout.upliftAt30),
          ],
        ]
      : []),
  ]);
  const sends = u.campaigns.map(
    (m) =>
      `<li><b>${escapeHtml(m.campaign)}</b>: trained on ${m.trainUsers.toLocaleString('en-US')} users of the measured send${m.sends.length > 1 ? 's' : ''} ${escapeHtml(m.sends.map((s) => `${s.cutoff.slice(0, 10)} (run ${s.runId})`).join(', '))}</li>`,
  );
  const forecasts = u.forecast.map(
    (f) => `<li><b>${escapeHtml(f.campaign)}</b> — <b>predicted</b> ${escapeHtml(forecastWords(f))}</li>`,
  );
  return `<section><h2>Uplift targeting</h2>
    <p class="meaning">Campaigns with <code>rankBy: "uplift"</code> order their list by the predicted change in each
    user's chance to convert when contacted (treated − not treated), learnt from earlier sends' treatment and control
    groups, instead of by who buys anyway. Qini and AUUC are normalised as scikit-uplift computes them (0 = random,
    1 = perfect), on the sends' held-out users (30 %).</p>
    <ul>${sends.join('')}</ul>
    ${table(['campaign', 'ranking', 'held-out users', 'Qini', 'AUUC', 'uplift@30 %'], rows)}
    ${forecasts.length ? `<h3>Before the send (predictions, not measurements)</h3><ul>${forecasts.join('')}</ul><p class="meaning">${escapeHtml(u.forecast[0].note)}.</p>` : ''}
  </section>`;
}

/** Per segment of the action tree: the action to take (or not enough evidence) with each action's lift. */
export function nextBestActionSection(n: RunSummary['nextBestAction'] | null | undefined): string {
  if (!n || !n.segments.length) return '';
  const rows = n.segments.map((s) => [
    s.segment,
    s.users,
    s.best ? `${s.best.campaign}: ${s.best.action}` : 'not enough evidence',
    s.actions
      .map(
        (a) =>
          `${a.campaign} ${pts(a.lift.estimate)} [${pts(a.lift.low)}, ${pts(a.lift.high)}] (${a.treatment + a.control} users)`,
      )
      .join('; '),
    s.reason,
  ]);
  return `<section><h2>Next best action per segment</h2>
    <p class="meaning">From the measured sends of ${new Set(n.sends.map((s) => s.campaign)).size} campaigns
    (${escapeHtml(n.sends.map((s) => `${s.campaign} ${s.cutoff.slice(0, 10)}`).join(', '))}): ${escapeHtml(n.method)}.
    Segment features: ${escapeHtml(n.features.join(', '))}.</p>
    ${table(['segment', 'users', 'next best action', 'measured lift per action (95 %)', 'why'], rows)}
  </section>`;
}
