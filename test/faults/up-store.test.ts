/**
 * `funnelcast up --store local-s3` as an operator runs it: the built CLI starts the embedded Temporal server, a
 * Versity Gateway over the home's objects folder, and the worker; the store answers S3 with the printed endpoint;
 * SIGTERM stops the worker and the store with it (nothing left listening).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../infra/root';
import { portAnswers } from '../../infra/temporal';
import { S3Store, s3Location } from '../../store';
import { freePort } from '../../store/versitygw';
import { tempDir } from '../helpers/warehouse';

describe('funnelcast up --store local-s3', { timeout: 300_000 }, () => {
  it('starts an S3-compatible store beside the server and the worker, and stops it on SIGTERM', async () => {
    const home = tempDir('fc-up-s3-');
    const port = await freePort();
    const s3Port = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      FUNNELCAST_HOME: home,
      FUNNELCAST_TEMPORAL_PORT: String(port),
      FUNNELCAST_S3_PORT: String(s3Port),
    };
    for (const k of ['TEMPORAL_ADDRESS', 'FUNNELCAST_STORE', 'FUNNELCAST_TASK_QUEUE', 'NODE_TEST_CONTEXT'])
      delete env[k];
    const child = spawn(process.execPath, [join(projectRoot(), 'bin', 'funnelcast.js'), 'up', '--store', 'local-s3'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exit = new Promise<number | string>((r) => child.once('exit', (c, s) => r(c ?? s ?? -1)));
    const deadline = Date.now() + 180_000;
    while (!/funnelcast is up/.test(err) && Date.now() < deadline && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 200));
    assert.match(err, new RegExp(`store s3://funnelcast/funnelcast at http://127\\.0\\.0\\.1:${s3Port}`), err);

    const store = new S3Store({ ...s3Location('s3://funnelcast/funnelcast'), endpoint: `http://127.0.0.1:${s3Port}` });
    process.env.AWS_ACCESS_KEY_ID = 'funnelcast';
    process.env.AWS_SECRET_ACCESS_KEY = 'funnelcast-local-secret';
    await store.put('probe.txt', Buffer.from('up'));
    assert.equal((await store.get('probe.txt'))!.body.toString(), 'up');
    store.close();

    child.kill('SIGTERM');
    await exit;
    assert.equal(await portAnswers('127.0.0.1', s3Port), false, 'the store stopped with the worker');
  });
});
