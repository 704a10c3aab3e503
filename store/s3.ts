/**
 * The S3-compatible store (`s3://bucket/prefix`) through the AWS SDK for JavaScript. Credentials and region come
 * from the SDK's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION, profiles, roles); a
 * self-hosted store's endpoint from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (path-style addressing then).
 * Each object carries the SHA-256 of its bytes in its metadata, so a worker's cache can be keyed by content.
 * Conditional writes are S3's own (PutObject with If-Match / If-None-Match): the store decides who wins.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { sha256Hex } from './local';
import {
  checkKey,
  joinKey,
  PreconditionFailedError,
  type ArtifactStore,
  type ListedObject,
  type ObjectInfo,
  type PutOptions,
} from './types';

export interface S3Location {
  bucket: string;
  prefix: string;
  endpoint?: string;
  region: string;
}

export function s3Location(url: string, env: NodeJS.ProcessEnv = process.env): S3Location {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) throw new Error(`FUNNELCAST_STORE=${url}: expected s3://bucket/prefix`);
  return {
    bucket: m[1]!,
    prefix: m[2]!.replace(/\/+$/, ''),
    endpoint: env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined,
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
  };
}

/** The bucket-level prefix for a store-level one: the store's own prefix is a folder, never a name's start. */
function prefixOf(storePrefix: string, prefix: string): string {
  const p = joinKey(storePrefix, prefix);
  return p && (prefix === '' || prefix.endsWith('/')) ? `${p}/` : p;
}

const status = (e: unknown) => (e instanceof S3ServiceException ? e.$metadata.httpStatusCode : undefined);

export class S3Store implements ArtifactStore {
  readonly url: string;
  private readonly client: S3Client;

  constructor(readonly at: S3Location) {
    this.url = `s3://${at.bucket}/${at.prefix}`;
    this.client = new S3Client({
      region: at.region,
      endpoint: at.endpoint,
      forcePathStyle: !!at.endpoint,
      // Checksums only where S3 requires them: S3-compatible stores do not all know the newer checksum headers.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  private objectKey(key: string): string {
    return joinKey(this.at.prefix, checkKey(key));
  }

  async put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<ObjectInfo> {
    const sha256 = sha256Hex(body);
    try {
      const out = await this.client.send(
        new PutObjectCommand({
          Bucket: this.at.bucket,
          Key: this.objectKey(key),
          Body: body,
          Metadata: { sha256 },
          IfMatch: opts.ifMatch,
          IfNoneMatch: opts.ifNoneMatch,
        }),
      );
      return { key, etag: out.ETag ?? '', bytes: body.length, sha256 };
    } catch (e) {
      // 412: the condition failed; 409: a concurrent conditional write to the same key won (S3 asks to retry).
      if (status(e) === 412 || status(e) === 409)
        throw new PreconditionFailedError(key, opts.ifNoneMatch ? 'already exists' : `changed since ${opts.ifMatch}`);
      throw e;
    }
  }

  async get(key: string): Promise<{ body: Buffer; info: ObjectInfo } | null> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.at.bucket, Key: this.objectKey(key) }));
      const body = Buffer.from(await out.Body!.transformToByteArray());
      return {
        body,
        info: { key, etag: out.ETag ?? '', bytes: body.length, sha256: out.Metadata?.sha256 ?? null },
      };
    } catch (e) {
      if (status(e) === 404) return null;
      throw e;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.at.bucket, Key: this.objectKey(key) }));
      return { key, etag: out.ETag ?? '', bytes: out.ContentLength ?? 0, sha256: out.Metadata?.sha256 ?? null };
    } catch (e) {
      if (status(e) === 404) return null;
      throw e;
    }
  }

  async list(prefix: string): Promise<string[]> {
    return (await this.listInfo(prefix)).map((o) => o.key);
  }

  async listInfo(prefix: string): Promise<ListedObject[]> {
    const objects: ListedObject[] = [];
    const strip = this.at.prefix ? this.at.prefix.length + 1 : 0;
    let token: string | undefined;
    do {
      const out = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.at.bucket,
          Prefix: prefixOf(this.at.prefix, prefix),
          ContinuationToken: token,
        }),
      );
      for (const o of out.Contents ?? [])
        if (o.Key) objects.push({ key: o.Key.slice(strip), etag: o.ETag ?? '', bytes: o.Size ?? 0 });
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.at.bucket, Key: this.objectKey(key) }));
  }

  close(): void {
    this.client.destroy();
  }
}
