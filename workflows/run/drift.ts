/**
 * Drift against the champion's training data, before publishing: a blocking check stops publishing and delivery
 * (the run fails naming what moved and by how much) unless the run was told to accept it (`run --accept-drift`:
 * drift.accept), and then the champion history records the accepted drift.
 */
import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { FeatureRef, RunInput, RunPlan, RunSummary, ScoreDrift } from '../types';
import type { RunContext } from './context';

/** Checks drift; returns the note the publish step records with the pointer move (null unless accepted) and the summary's line. */
export async function driftGate(
  ctx: RunContext,
  plan: RunPlan,
  trainSet: FeatureRef,
  trigger: RunInput['trigger'],
): Promise<{ note: string | null; drift: RunSummary['drift'] }> {
  const { loaded, run } = plan;
  // A backfill's versions are backtests that never serve: they measure the past, drift included.
  if (trigger === 'backfill') return { note: null, drift: null };
  ctx.step('publish', 'drift checks against the champion');
  const drift = await ctx.io.checkDrift({
    loaded,
    runId: run.runId,
    runDir: run.runDir,
    trainingFeaturesPath: trainSet.featuresPath,
  });
  const summary = { level: drift.level, message: drift.message, reportPath: drift.reportPath };
  if (drift.level !== 'block') return { note: null, drift: summary };
  const apart = elapsedApart(drift.championTrainingCutoff, run.trainingCutoff, run.horizonMs);
  if (apart) {
    const message = `${apart}; what moved: ${drift.message.replace(/^blocked: /, '')}`;
    return { note: null, drift: { ...summary, level: 'warn', message } };
  }
  if (!loaded.definition.drift.accept)
    throw ApplicationFailure.nonRetryable(
      `drift checks blocked publishing and delivery: ${drift.message} (against ${drift.champion}; charts in ${drift.reportPath}). ` +
        `Check the data; funnelcast run --accept-drift publishes anyway, recorded in the champion history`,
      'DriftBlocked',
    );
  return { note: `drift accepted (--accept-drift): ${drift.message}`, drift: { ...summary, accepted: true } };
}

/**
 * Before delivery: this run's scores against those of the last lists delivered (the latest finished live run). A
 * blocking shift stops the run before any list is built or delivered, naming the PSI, unless the run was told to
 * accept drift, and then the champion history records it. Only when the pre-publish checks ran (`checked`: not a backfill nor a rerun past publish).
 */
export async function scoreDriftGate(
  ctx: RunContext,
  plan: RunPlan,
  scored: { scoresPath: string; modelVersion: string },
  checked: boolean,
): Promise<ScoreDrift | null> {
  // patched: a run started before this check existed replays without it (its history has no such activity).
  if (!checked || !patched('funnelcast-score-drift')) return null;
  const { loaded, run } = plan;
  ctx.step('score', 'score drift against the last delivered lists');
  const { scoresPath, modelVersion: version } = scored;
  const d = await ctx.io.checkScoreDrift({ loaded, runId: run.runId, runDir: run.runDir, scoresPath });
  const psi = d.moved[0]?.value ?? null;
  const summary: ScoreDrift = { level: d.level, message: d.message, reportPath: d.reportPath, psi };
  if (d.level !== 'block') return summary;
  // As before publishing: against lists scored more than one horizon earlier the scores' shift is elapsed time.
  if (elapsedApart(d.championTrainingCutoff, run.cutoff, run.horizonMs))
    return {
      ...summary,
      level: 'warn',
      message: `not blocking: the last delivered lists were scored at ${d.championTrainingCutoff}, more than one horizon before this run's cutoff; what moved: ${d.message.replace(/^blocked: /, '')}`,
    };
  if (!loaded.definition.drift.accept)
    throw ApplicationFailure.nonRetryable(
      `drift checks blocked delivery: ${d.message} (this run's scores against those of ${d.champion}; chart in ${d.reportPath}). ` +
        `Check the data and the model; funnelcast run --accept-drift delivers anyway`,
      'DriftBlocked',
    );
  // patched: a run that accepted score drift before this was recorded replays without the activity.
  if (patched('funnelcast-score-drift-history'))
    await ctx.io.recordAcceptedDrift({
      loaded,
      runId: run.runId,
      version,
      note: `score drift accepted before delivery (--accept-drift): ${d.message} (against ${d.champion})`,
    });
  return { ...summary, accepted: true };
}

/**
 * Drift blocks a publish when the data moved between two retrains. Against a champion trained more than one horizon
 * before this run's training cutoff it measures elapsed time instead: features counted in days (tenure, days since
 * the last event) move with the clock for the same people, so every later run would be blocked, and an unattended
 * schedule (or the sample's first live run after a run at its 2024 cutoff) could never publish again. Then drift is
 * reported as a warning and the champion gate (the metric on the same held-out users) decides; between consecutive
 * scheduled runs (a day or a week apart) the block stands.
 */
export function elapsedApart(championCutoff: string | null | undefined, trainingCutoff: string, horizonMs: number) {
  if (!championCutoff) return null;
  const gap = Math.abs(Date.parse(trainingCutoff) - Date.parse(championCutoff));
  if (!(gap > horizonMs)) return null;
  return (
    `not blocking: the champion was trained at ${championCutoff}, ${Math.round(gap / 86_400_000)} days from this ` +
    `run's training cutoff, more than one horizon: drift against it measures elapsed time, and the champion gate decides`
  );
}
