/** Connection settings for an external Temporal cluster come from the environment, as Temporal's tools name them. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporalConnectionOptions } from '../../../infra/temporal';
import { tempDir } from '../../helpers/warehouse';

describe('Temporal connection options from the environment', () => {
  it('plain by default; mTLS from certificate files; TLS with an API key', () => {
    assert.deepEqual(temporalConnectionOptions({}), {});
    const dir = tempDir();
    for (const f of ['c.pem', 'k.pem', 'ca.pem']) writeFileSync(join(dir, f), f);
    const mtls = temporalConnectionOptions({
      TEMPORAL_TLS_CERT: join(dir, 'c.pem'),
      TEMPORAL_TLS_KEY: join(dir, 'k.pem'),
      TEMPORAL_TLS_CA: join(dir, 'ca.pem'),
    });
    assert.deepEqual(mtls, {
      tls: {
        clientCertPair: { crt: Buffer.from('c.pem'), key: Buffer.from('k.pem') },
        serverRootCACertificate: Buffer.from('ca.pem'),
      },
    });
    assert.deepEqual(temporalConnectionOptions({ TEMPORAL_API_KEY: 'secret' }), { tls: true, apiKey: 'secret' });
    assert.throws(() => temporalConnectionOptions({ TEMPORAL_TLS_CERT: 'x' }), /must be set together/);
  });
});
