/**
 * The webhook deliveries of a run's lists: one activity per list, retried with exponential backoff by Temporal
 * (transient refusals), resuming after the last acknowledged batch. A destination that refuses for good has a
 * dead-letter record (written by the activity); the run records the outcome and goes on.
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import { routed } from './proxies';
import type { BucketOutcome, ExportRef, WebhookOutcome } from './types';

const delivery = routed({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 8 },
});

export async function deliverToWebhooks(opts: {
  pipeline: string;
  runId: string;
  exports: ExportRef[];
  webhook: { url: string; secretEnv: string; batchSize: number; mode: 'full' | 'changes' };
}): Promise<WebhookOutcome[]> {
  const out: WebhookOutcome[] = [];
  for (const e of opts.exports) {
    try {
      const r = await delivery.deliverToWebhook({
        pipeline: opts.pipeline,
        runId: opts.runId,
        list: e.campaign,
        parquetPath: e.parquetPath,
        ...opts.webhook,
      });
      out.push({ list: e.campaign, outcome: 'delivered', rows: r.rows, batches: r.batches });
    } catch (err) {
      const cause = err instanceof ActivityFailure ? err.cause : err;
      const reason = cause instanceof ApplicationFailure || cause instanceof Error ? cause.message : String(cause);
      out.push({ list: e.campaign, outcome: 'failed', rows: 0, batches: 0, reason });
    }
  }
  return out;
}

/** The bucket upload of a run's files: retried by Temporal; a failure for good is recorded, the run goes on. */
export async function deliverToBucketStep(opts: {
  pipeline: string;
  runId: string;
  target: { bucket: string; prefix?: string; endpoint?: string; region: string; forcePathStyle: boolean };
  files: string[];
  manifestPath: string;
}): Promise<BucketOutcome> {
  try {
    const r = await delivery.deliverToBucket(opts);
    return { bucket: opts.target.bucket, delivered: true, objects: r.keys.length, bytes: r.bytes };
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : err;
    return { bucket: opts.target.bucket, delivered: false, objects: 0, bytes: 0, reason: (cause as Error).message };
  }
}
