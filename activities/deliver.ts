/**
 * Delivers one list to the pipeline's webhook (segments/webhook.ts). Thin: the retries with backoff are the
 * activity's own (workflows/retrain.ts sets them), each attempt resumes after the last batch the receiver
 * acknowledged (heartbeat details), and a destination that refuses for good gets a dead-letter record and a
 * non-retryable failure, which the workflow records without failing the run.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { funnelcastHome } from '../infra/paths';
import { withDuckDB } from '../warehouse/db';
import {
  appendDeliveryLog,
  deliveryPaths,
  deliveryRows,
  DeliveryRefused,
  hostOf,
  rememberDelivered,
  sendBatches,
  writeDeadLetter,
  type DeliveryLogEntry,
} from '../segments/webhook';
import type { BucketTarget } from '../segments/bucket';
import { heartbeat, lastHeartbeat } from './context';

export interface WebhookDeliveryInput {
  pipeline: string;
  runId: string;
  list: string;
  parquetPath: string;
  url: string;
  /** The environment variable holding the HMAC secret (never the secret itself: payloads are stored in history). */
  secretEnv: string;
  batchSize: number;
  mode: 'full' | 'changes';
}

export async function deliverToWebhook(input: WebhookDeliveryInput): Promise<DeliveryLogEntry> {
  const secret = process.env[input.secretEnv];
  if (!secret)
    throw ApplicationFailure.nonRetryable(
      `export.webhook.secretEnv: the environment variable ${input.secretEnv} with the signing secret is not set on the worker`,
      'InputError',
    );
  const p = deliveryPaths(funnelcastHome(), input.pipeline);
  const rows = await withDuckDB(':memory:', (conn) =>
    deliveryRows(conn, input.parquetPath, input.mode, p.last(input.list)),
  );
  const resumeAt = (lastHeartbeat<{ acknowledged: number }>()?.acknowledged ?? -1) + 1;
  const base = {
    at: new Date().toISOString(),
    runId: input.runId,
    list: input.list,
    destination: hostOf(input.url),
    mode: input.mode,
    rows: rows.length,
  };
  try {
    const sent = await sendBatches({
      target: { url: input.url, secret, batchSize: input.batchSize, mode: input.mode },
      runId: input.runId,
      list: input.list,
      rows,
      fromBatch: resumeAt,
      onBatch: (k) => heartbeat({ acknowledged: k }),
    });
    const entry: DeliveryLogEntry = { ...base, batches: sent.batches, checksum: sent.checksum, outcome: 'delivered' };
    rememberDelivered(input.parquetPath, p.last(input.list));
    appendDeliveryLog(p.log, entry);
    return entry;
  } catch (e) {
    if (!(e instanceof DeliveryRefused)) throw e; // transient: Temporal retries the activity with backoff
    const entry: DeliveryLogEntry = { ...base, batches: 0, checksum: '', outcome: 'dead-letter', reason: e.message };
    writeDeadLetter(p.deadLetter(input.runId, input.list), { ...entry, parquetPath: input.parquetPath });
    appendDeliveryLog(p.log, entry);
    throw ApplicationFailure.nonRetryable(e.message, 'DeliveryRefused');
  }
}

/** Uploads a run's list files and manifest to the pipeline's bucket; Temporal retries a failed attempt. */
export async function deliverToBucket(input: {
  pipeline: string;
  runId: string;
  target: BucketTarget;
  files: string[];
  manifestPath: string;
}): Promise<{ keys: string[]; bytes: number }> {
  // Loaded on first use: workers of pipelines without a bucket never pay for the AWS SDK.
  const { uploadToBucket } = await import('../segments/bucket');
  const r = await uploadToBucket({ ...input, onFile: (key) => heartbeat({ uploaded: key }) });
  appendDeliveryLog(deliveryPaths(funnelcastHome(), input.pipeline).log, {
    at: new Date().toISOString(),
    runId: input.runId,
    list: `${input.files.length} files + manifest`,
    destination: `s3://${input.target.bucket}/${r.keys[0]?.split('/').slice(0, -1).join('/') ?? ''}`,
    mode: 'full',
    rows: 0,
    batches: r.keys.length,
    checksum: '',
    outcome: 'delivered',
  });
  return r;
}
