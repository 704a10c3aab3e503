/**
 * The per-step store rows (FUNNELCAST_STORE_STATS, the bench's "store step" rows) include the store calls made
 * beside the boundary: a training fold's checkpoint uploads, made on the worker thread its body runs on, show as
 * `trainModel checkpoints` in the worker process's rows; the registry's calls as `<step> registry`. Before, both
 * went through store clients of their own whose counts were never written (7.4 s of store calls per 1 M-event run
 * were invisible). Real Versity Gateway, the registered activity (store boundary + worker thread).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../../activities';
import type { TrainInput } from '../../../activities/train';
import { openRegistry } from '../../../registry/open';
import { modelSpec } from '../../../pipelines/schema/model';
import { withDuckDB } from '../../../warehouse/db';
import { sharedStore, type StepStoreStats } from '../../../store';
import type { ObjectServer } from '../../../store/versitygw';
import { startTestObjectServer } from '../../helpers/object-store';

async function featureTable(file: string, rows: number): Promise<void> {
  await withDuckDB(':memory:', (conn) =>
    conn.run(`COPY (
      SELECT 'u' || i AS user_id, CASE WHEN f1 + 0.6 * f2 > 0.9 THEN 1 ELSE 0 END AS label, f1, f2
      FROM (SELECT i, (hash(i) % 1000) / 1000.0 AS f1, (hash(i * 7 + 1) % 1000) / 1000.0 AS f2 FROM range(${rows}) t(i))
    ) TO '${file}' (FORMAT parquet)`),
  );
}

describe('per-step store rows', { timeout: 120_000 }, () => {
  let server: ObjectServer;
  const saved = { ...process.env };
  before(async () => {
    server = await startTestObjectServer('rows');
  });
  after(async () => {
    process.env = saved;
    await server?.stop();
  });

  it('count a training fold’s checkpoint calls (made on its body’s thread) and the registry’s calls', async () => {
    const home = mkdtempSync(join(tmpdir(), 'fc-rows-home-'));
    const stats = join(home, 'stats');
    Object.assign(process.env, server.env('fc'), {
      FUNNELCAST_STORE: `s3://${server.bucket}/fc`,
      FUNNELCAST_HOME: home,
      FUNNELCAST_STORE_STATS: stats,
    });
    const runDir = join(home, 'runs', 'rows', 'run1');
    mkdirSync(join(runDir, 'features'), { recursive: true });
    const featuresPath = join(runDir, 'features', 'train.parquet');
    await featureTable(featuresPath, 3_000);
    const input: TrainInput = {
      runDir,
      featuresPath,
      sequencesPath: '',
      vocabPath: '',
      model: modelSpec.parse({ engine: 'forest', seed: 7, forest: { nTrees: 30, maxDepth: 5 } }),
      engine: 'forest',
      split: { kind: 'fold', strategy: 'kfold', k: 3, i: 1 },
    };
    const env = new MockActivityEnvironment({ attempt: 1 }, { logger: new DefaultLogger('ERROR') });
    await env.run(createActivities().trainModel, input);

    const written = JSON.parse(readFileSync(join(stats, readdirSync(stats)[0]!), 'utf8')) as {
      steps: Record<string, StepStoreStats>;
    };
    const ckpt = written.steps['trainModel checkpoints'];
    assert.ok(ckpt, `a checkpoints row among ${Object.keys(written.steps).join(', ')}`);
    assert.ok(ckpt.put >= 1 && ckpt.bytesPut > 0, `checkpoint uploads counted: ${JSON.stringify(ckpt)}`);
    assert.ok(ckpt.delete >= 1 && ckpt.list >= 2, 'restore lists; finish lists and deletes');
    assert.ok(ckpt.storeSeconds > 0);
    assert.ok(written.steps.trainModel!.calls === 1 && written.steps.trainModel!.put >= 1, 'the boundary row');

    const counting = sharedStore()!;
    await counting.countingAs('publishModel', () => openRegistry('rows'));
    const reg = counting.steps.get('publishModel registry');
    assert.ok(reg && reg.list + reg.get >= 1, `the registry's calls counted: ${JSON.stringify(reg)}`);
  });
});
