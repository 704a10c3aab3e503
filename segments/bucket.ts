/**
 * Delivery of a run's lists to an S3-compatible bucket (AWS S3, MinIO, R2, …) through the AWS SDK for JavaScript:
 * `<prefix>/<pipeline>/<runId>/<file>` for every list file, the manifest last, so a reader that sees the manifest
 * sees every file it names. Each object carries the file's SHA-256 in its metadata, and is read back after the
 * upload to check it. Objects are keyed by run: a retried delivery writes the same bytes to the same keys.
 * Credentials come from the SDK's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, roles).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { sha256File } from '../registry';

export interface BucketTarget {
  bucket: string;
  prefix?: string;
  /** An S3-compatible endpoint (MinIO, R2 …); AWS when unset. */
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
}

export function bucketClient(t: BucketTarget): S3Client {
  return new S3Client({
    region: t.region,
    endpoint: t.endpoint,
    forcePathStyle: t.forcePathStyle,
    // Checksums only where S3 requires them: S3-compatible stores do not all know the newer checksum headers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export function objectKey(t: BucketTarget, pipeline: string, runId: string, file: string): string {
  return [t.prefix?.replace(/^\/+|\/+$/g, ''), pipeline, runId, basename(file)].filter(Boolean).join('/');
}

/** Uploads `files` then `manifest`; returns the keys written. Throws on any refusal (the activity retries). */
export async function uploadToBucket(opts: {
  target: BucketTarget;
  pipeline: string;
  runId: string;
  files: string[];
  manifestPath: string;
  onFile?: (key: string) => void;
}): Promise<{ keys: string[]; bytes: number }> {
  const client = bucketClient(opts.target);
  const keys: string[] = [];
  let bytes = 0;
  try {
    for (const file of [...opts.files, opts.manifestPath]) {
      const key = objectKey(opts.target, opts.pipeline, opts.runId, file);
      const body = readFileSync(file);
      const sha256 = sha256File(file);
      await client.send(
        new PutObjectCommand({ Bucket: opts.target.bucket, Key: key, Body: body, Metadata: { sha256 } }),
      );
      // Read back what the store holds: the size and the checksum we gave it.
      const head = await client.send(new HeadObjectCommand({ Bucket: opts.target.bucket, Key: key }));
      if (head.ContentLength !== body.length || head.Metadata?.sha256 !== sha256)
        throw new Error(`s3://${opts.target.bucket}/${key}: the stored object differs from ${basename(file)}`);
      keys.push(key);
      bytes += body.length;
      opts.onFile?.(key);
    }
  } finally {
    client.destroy();
  }
  return { keys, bytes };
}
