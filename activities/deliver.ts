/**
 * Delivers one list to the pipeline's webhook (segments/webhook.ts). Thin: the retries with backoff are the
 * activity's own (workflows/retrain.ts sets them), each attempt resumes after the last batch the receiver
 * acknowledged (heartbeat details), and a destination that refuses for good gets a dead-letter record and a
 * non-retryable failure, which the workflow records without failing the run.
 */
import { activityInfo, ApplicationFailure } from '@temporalio/activity';
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
    // Transient: Temporal retries the activity with backoff, except after its last attempt, which gives up for good.
    if (!(e instanceof DeliveryRefused) && !lastAttempt()) throw e;
    const reason = e instanceof DeliveryRefused ? e.message : `gave up after ${attempts()}: ${(e as Error).message}`;
    const entry: DeliveryLogEntry = { ...base, batches: 0, checksum: '', outcome: 'dead-letter', reason };
    writeDeadLetter(p.deadLetter(input.runId, input.list), { ...entry, parquetPath: input.parquetPath });
    appendDeliveryLog(p.log, entry);
    throw ApplicationFailure.nonRetryable(reason, 'DeliveryRefused');
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
  const { uploadToBucket, objectKey } = await import('../segments/bucket');
  const log = deliveryPaths(funnelcastHome(), input.pipeline).log;
  const base = {
    runId: input.runId,
    list: `${input.files.length} files + manifest`,
    destination: `s3://${input.target.bucket}/${objectKey(input.target, input.pipeline, input.runId, '')}`.replace(
      /\/$/,
      '',
    ),
    mode: 'full' as const,
    rows: 0,
    checksum: '',
  };
  let r: { keys: string[]; bytes: number };
  try {
    r = await uploadToBucket({ ...input, onFile: (key) => heartbeat({ uploaded: key }) });
  } catch (e) {
    // A store that refuses for good (no such bucket, access denied, bad credentials) is not retried for minutes:
    // the refusal is logged and reported at once. Anything else (5xx, network) is retried by Temporal.
    const refusal =
      permanentRefusal(e) ?? (lastAttempt() ? `gave up after ${attempts()}: ${(e as Error).message}` : null);
    if (!refusal) throw e;
    const reason = `s3://${input.target.bucket}: ${refusal}`;
    appendDeliveryLog(log, { ...base, at: new Date().toISOString(), batches: 0, outcome: 'dead-letter', reason });
    throw ApplicationFailure.nonRetryable(reason, 'BucketRefused');
  }
  appendDeliveryLog(log, { ...base, at: new Date().toISOString(), batches: r.keys.length, outcome: 'delivered' });
  return r;
}

/** This attempt is the retry policy's last: its failure is final, so it is logged as a dead letter. */
function lastAttempt(): boolean {
  const info = activityInfo();
  const max = info.retryPolicy?.maximumAttempts;
  return !!max && info.attempt >= max;
}
const attempts = () => `${activityInfo().attempt} attempts`;

const PERMANENT = new Set([
  'NoSuchBucket',
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidBucketName',
  'AllAccessDisabled',
]);

/** The store's error name and message when it refused for good (a 4xx other than timeouts and throttling). */
function permanentRefusal(e: unknown): string | null {
  const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = err.$metadata?.httpStatusCode;
  const permanent =
    PERMANENT.has(err.name ?? '') || (status != null && status >= 400 && status < 500 && ![408, 429].includes(status));
  return permanent ? `${err.name ?? 'refused'} (HTTP ${status ?? '?'}): ${err.message ?? ''}`.trim() : null;
}
