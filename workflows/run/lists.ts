/**
 * After publishing: score every user at the cutoff with the version the publish step chose, build the segments and
 * campaign lists, and deliver them to the definition's bucket and webhooks.
 */
import type { Activities } from '../../activities';
import { deliverToBucketStep, deliverToWebhooks } from '../deliver';
import type { ClvRef, ExportRef, FeatureRef, PublishResult, RunPlan, RunSummary, ScoreDrift } from '../types';
import { scoreDriftGate } from './drift';
import type { RunContext } from './context';

export interface Lists {
  scoring: Awaited<ReturnType<Activities['scoreUsers']>> | null;
  exports: ExportRef[];
  segmentsPath: string | null;
  delivery: RunSummary['delivery'];
  webhook: RunSummary['webhook'];
  bucket: RunSummary['bucket'];
  marketer: Awaited<ReturnType<Activities['buildSegments']>>['marketer'] | null;
  /** The score drift check before delivery (null: nothing to compare with). */
  scoreDrift?: ScoreDrift | null;
}

/** A train-only run's: nothing scored or delivered (a fresh object each time: summaries never share one). */
export const noLists = (): Lists => ({
  scoring: null,
  exports: [],
  segmentsPath: null,
  delivery: null,
  webhook: undefined,
  bucket: undefined,
  marketer: null,
});

export async function scoreAndDeliver(
  ctx: RunContext,
  plan: RunPlan,
  features: FeatureRef,
  publish: PublishResult,
  clv: ClvRef | null,
  /** Predicted uplift per user and campaign (lift/pipeline-uplift.ts), when a campaign ranks by it. */
  upliftPath?: string,
  /** Whether the drift checks ran before publishing: then the scores are checked before delivery too. */
  driftChecked = false,
): Promise<Lists> {
  const { loaded, run } = plan;
  const def = loaded.definition;
  ctx.step('score');
  const scoring = await ctx.training.scoreUsers({
    loaded,
    runDir: run.runDir,
    features,
    // The version the publish step decided on; scoring never looks the champion up again.
    versionDir: publish.scoreWith.versionDir,
    version: publish.scoreWith.version,
  });
  const scoreDrift = await scoreDriftGate(ctx, plan, scoring, driftChecked);
  ctx.step('segments');
  const seg = await ctx.training.buildSegments({
    loaded,
    runId: run.runId,
    cutoff: run.cutoff,
    runDir: run.runDir,
    featuresPath: features.featuresPath,
    scoresPath: scoring.scoresPath,
    reasonsPath: scoring.reasonsPath,
    clvPath: clv?.clvPath,
    ...(upliftPath ? { upliftPath } : {}),
    modelVersion: scoring.modelVersion,
    outcomesObserved: features.labelled,
  });
  const bucket = def.export.bucket
    ? await deliverToBucketStep({
        pipeline: def.name,
        runId: run.runId,
        target: def.export.bucket,
        files: seg.exports.flatMap((e) => [e.csvPath, e.parquetPath, ...(e.otherFiles ?? [])]),
        manifestPath: seg.manifestPath,
      })
    : undefined;
  const webhook = def.export.webhook
    ? await deliverToWebhooks({
        pipeline: def.name,
        runId: run.runId,
        exports: seg.exports,
        webhook: def.export.webhook,
      })
    : undefined;
  return {
    scoring,
    exports: seg.exports,
    segmentsPath: seg.segmentsPath,
    delivery: seg.delivery,
    webhook,
    bucket,
    marketer: seg.marketer,
    scoreDrift,
  };
}
