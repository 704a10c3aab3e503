/**
 * The object store under test: a real Versity Gateway (S3 over a POSIX folder) started per test file on a free
 * port, with a fresh folder and bucket, stopped in `after`. Never a mock: conditional writes, ETags and listing are
 * the server's own.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startObjectServer, type ObjectServer } from '../../store/versitygw';
import { S3Store, s3Location } from '../../store';

export async function startTestObjectServer(bucket = 'funnelcast-test'): Promise<ObjectServer> {
  const dir = mkdtempSync(join(tmpdir(), 'fc-vgw-'));
  return startObjectServer({ dir: join(dir, 'data'), bucket });
}

/** A store client on the server, with its credentials in the environment the SDK reads. */
export function s3StoreOn(server: ObjectServer, prefix = 'funnelcast'): S3Store {
  Object.assign(process.env, server.env(prefix));
  return new S3Store(s3Location(`s3://${server.bucket}/${prefix}`));
}
