/**
 * Delivery of a list to an HTTPS webhook, as reverse-ETL tools do: the rows in batches (JSON), each signed with an
 * HMAC-SHA256 of its body (`X-Funnelcast-Signature: sha256=<hex>`) and carrying an `Idempotency-Key` that is the
 * same on every retry of that batch, so a receiver that saw the batch already drops the repeat. Sync modes: the
 * whole list, or only the changes since the last successful delivery of the list (added and removed users).
 * Transient refusals (network, 408, 429, 5xx) throw RetryableDeliveryError: the caller (a Temporal activity)
 * retries with backoff and resumes after the last acknowledged batch. Other 4xx throw DeliveryRefused: retrying
 * cannot help, the caller writes a dead-letter record. Every outcome is appended to the delivery log.
 */
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { quoteLiteral } from '../warehouse/db';
import { writeFileAtomic } from '../infra/atomic';

export class RetryableDeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryableDeliveryError';
  }
}
export class DeliveryRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeliveryRefused';
  }
}

export interface WebhookTarget {
  url: string;
  secret: string;
  batchSize: number;
  mode: 'full' | 'changes';
}

export const signBody = (secret: string, body: string) =>
  `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;

export interface DeliveryLogEntry {
  at: string;
  runId: string;
  list: string;
  destination: string;
  mode: 'full' | 'changes';
  rows: number;
  batches: number;
  checksum: string;
  outcome: 'delivered' | 'dead-letter';
  reason?: string;
}

/** Where a pipeline's deliveries are recorded: the log, each list's last delivered ids, dead letters. */
export function deliveryPaths(home: string, pipeline: string) {
  const dir = join(home, 'deliveries', pipeline);
  return {
    log: join(dir, 'deliveries.jsonl'),
    last: (list: string) => join(dir, 'last', `${list}.parquet`),
    deadLetter: (runId: string, list: string) => join(dir, 'dead-letter', `${runId}-${list}.json`),
  };
}

export function appendDeliveryLog(file: string, e: DeliveryLogEntry): void {
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, JSON.stringify(e) + '\n');
}

export function readDeliveryLog(file: string): DeliveryLogEntry[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as DeliveryLogEntry);
}

/**
 * The payload rows of one delivery, in list order: every row (`full`), or `op` = add for users new since the last
 * delivered copy and `op` = remove (user_id only) for users no longer on the list (`changes`).
 */
export async function deliveryRows(
  conn: DuckDBConnection,
  parquetPath: string,
  mode: 'full' | 'changes',
  lastPath: string,
): Promise<Record<string, unknown>[]> {
  const list = `read_parquet(${quoteLiteral(parquetPath)})`;
  const cols = `user_id, propensity, rfm_segment, propensity_decile, why_1, why_2, why_3, action`;
  const sql =
    mode === 'changes' && existsSync(lastPath)
      ? `SELECT 'add' AS op, ${cols} FROM ${list} WHERE user_id NOT IN (SELECT user_id FROM read_parquet(${quoteLiteral(lastPath)}))
         UNION ALL
         SELECT 'remove' AS op, user_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM read_parquet(${quoteLiteral(lastPath)})
         WHERE user_id NOT IN (SELECT user_id FROM ${list})`
      : `SELECT 'add' AS op, ${cols} FROM ${list}`;
  const rows = (await conn.runAndReadAll(sql)).getRowObjects();
  return rows.map((r) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])),
  );
}

/**
 * Sends batches `fromBatch…` of `rows`; `onBatch(k)` after batch k is acknowledged (the activity heartbeats it, so
 * a retried attempt starts after it). The idempotency key depends on the run, list, batch and its content.
 */
export async function sendBatches(opts: {
  target: WebhookTarget;
  runId: string;
  list: string;
  rows: Record<string, unknown>[];
  fromBatch: number;
  onBatch: (k: number) => void;
  fetchImpl?: typeof fetch;
}): Promise<{ batches: number; checksum: string }> {
  const { target } = opts;
  const batches = Math.max(1, Math.ceil(opts.rows.length / target.batchSize));
  const checksum = createHash('sha256').update(JSON.stringify(opts.rows)).digest('hex');
  for (let k = opts.fromBatch; k < batches; k++) {
    const part = opts.rows.slice(k * target.batchSize, (k + 1) * target.batchSize);
    const body = JSON.stringify({
      runId: opts.runId,
      list: opts.list,
      mode: target.mode,
      batch: k,
      batches,
      rows: part,
    });
    const key = createHash('sha256').update(`${opts.runId}\n${opts.list}\n${k}\n${checksum}`).digest('hex');
    let res: Response;
    try {
      res = await (opts.fetchImpl ?? fetch)(target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': key,
          'x-funnelcast-signature': signBody(target.secret, body),
        },
        body,
        signal: AbortSignal.timeout(30_000),
      });
    } catch (e) {
      throw new RetryableDeliveryError(`batch ${k + 1}/${batches} to ${hostOf(target.url)}: ${(e as Error).message}`);
    }
    await res.arrayBuffer().catch(() => undefined);
    // 409: the receiver already has this idempotency key, i.e. an earlier attempt's batch arrived.
    if (res.ok || res.status === 409) {
      opts.onBatch(k);
      continue;
    }
    const why = `batch ${k + 1}/${batches} to ${hostOf(target.url)}: HTTP ${res.status}`;
    if (res.status === 408 || res.status === 429 || res.status >= 500) throw new RetryableDeliveryError(why);
    throw new DeliveryRefused(why);
  }
  return { batches, checksum };
}

/** After a successful delivery: its ids become the base of the next `changes` delivery (temp + rename). */
export function rememberDelivered(parquetPath: string, lastPath: string): void {
  mkdirSync(dirname(lastPath), { recursive: true });
  const tmp = `${lastPath}.tmp-${process.pid}`;
  copyFileSync(parquetPath, tmp);
  renameSync(tmp, lastPath);
}

export function writeDeadLetter(file: string, record: Record<string, unknown>): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileAtomic(file, JSON.stringify(record, null, 2) + '\n');
}

/** The host alone: URLs may carry tokens in their path or query, which logs must not keep. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'an invalid URL';
  }
}
