/**
 * Drift against the champion's training data, before publishing: a blocking check stops publishing and delivery
 * (the run fails naming what moved and by how much) unless the run was told to accept it (`run --accept-drift`:
 * drift.accept), and then the champion history records the accepted drift.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { FeatureRef, RunInput, RunPlan, RunSummary } from '../types';
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
  if (!loaded.definition.drift.accept)
    throw ApplicationFailure.nonRetryable(
      `drift checks blocked publishing and delivery: ${drift.message} (against ${drift.champion}; charts in ${drift.reportPath}). ` +
        `Check the data; funnelcast run --accept-drift publishes anyway, recorded in the champion history`,
      'DriftBlocked',
    );
  return { note: `drift accepted (--accept-drift): ${drift.message}`, drift: { ...summary, accepted: true } };
}
