/**
 * Run by test/unit/activities/disk-full-train.test.ts inside `unshare -rm` with a small tmpfs mounted at argv[2]:
 * fills it, trains a forest fold whose run folder is there (its files do not fit), frees the space and trains
 * again. Prints one JSON object: the first error, the temp files left, and the second attempt's result.
 */
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { trainModel, type TrainInput } from '../../activities/train';
import { modelSpec } from '../../pipelines/schema/model';
import { withDuckDB } from '../../warehouse/db';
import type { TrainResult } from '../../workflows/types';

async function main(small: string, dataDir: string, fillerBytes: number) {
  const featuresPath = join(dataDir, 'features.parquet');
  await withDuckDB(':memory:', (conn) =>
    conn.run(`COPY (
      SELECT 'u' || i AS user_id, CASE WHEN f1 + 0.5 * f2 > 0.9 THEN 1 ELSE 0 END AS label, f1, f2, f3
      FROM (SELECT i, (hash(i) % 1000) / 1000.0 AS f1, (hash(i * 7) % 1000) / 1000.0 AS f2,
                   (hash(i * 11) % 1000) / 1000.0 AS f3 FROM range(6000) t(i))
    ) TO '${featuresPath}' (FORMAT parquet)`),
  );
  const filler = join(small, 'filler');
  writeFileSync(filler, Buffer.alloc(fillerBytes));
  const input: TrainInput = {
    runDir: join(small, 'run'),
    featuresPath,
    sequencesPath: '',
    vocabPath: '',
    model: modelSpec.parse({ engine: 'forest', seed: 3, forest: { nTrees: 40, maxDepth: 10, minSamplesLeaf: 1 } }),
    engine: 'forest',
    split: { kind: 'fold', strategy: 'kfold', k: 3, i: 0 },
  };
  const env = () => new MockActivityEnvironment({ attempt: 1 }, { logger: new DefaultLogger('ERROR') });
  let error = '';
  try {
    await env().run(trainModel, input);
  } catch (e) {
    error = (e as Error).message;
  }
  const temps = readdirSync(join(small, 'run', 'models'), { recursive: true, encoding: 'utf8' }).filter((f) =>
    f.includes('.tmp-'),
  );
  rmSync(filler);
  const r: TrainResult = await env().run(trainModel, input);
  process.stdout.write(
    JSON.stringify({ error, temps, rerun: { auc: r.metrics?.roc_auc ?? null, nTest: r.nTest } }) + '\n',
  );
}

main(process.argv[2], process.argv[3], Number(process.argv[4])).catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + '\n');
  process.exit(1);
});
