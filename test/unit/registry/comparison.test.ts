/**
 * "Compared on the same rows" is checked, not assumed (activities/champion.ts, no Temporal involved): real DuckDB
 * files, a real registry, and held-out users chosen by the same hash the trainer uses.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareWithChampion } from '../../../activities/champion';
import { ModelRegistry } from '../../../registry';
import { holdoutByUser } from '../../../ml/cv';
import { withDuckDB } from '../../../warehouse/db';
import { writeColumnsToParquet } from '../../../warehouse/parquet';
import type { LoadedPipeline } from '../../../pipelines/load';
import type { FeatureRef, TrainResult } from '../../../workflows/types';
import { tempDir } from '../../helpers/warehouse';

const ids = Array.from({ length: 400 }, (_, i) => `u${i}`);
const hashHeldOut = (fraction: number, seed: number) =>
  Array.from(holdoutByUser(ids, fraction, seed).test, (i) => ids[i]);

async function parquetOfIds(file: string, users: string[], withFeatures = false) {
  await withDuckDB(':memory:', (conn) =>
    writeColumnsToParquet(conn, file, [
      { name: 'user_id', type: 'VARCHAR', values: users },
      { name: 'label', type: 'INTEGER', values: users.map((_, i) => i % 2) },
      ...(withFeatures
        ? [
            { name: 'a', type: 'DOUBLE' as const, values: users.map((_, i) => i) },
            { name: 'b', type: 'DOUBLE' as const, values: users.map((_, i) => -i) },
          ]
        : [{ name: 'score', type: 'DOUBLE' as const, values: users.map(() => 0.5) }]),
    ]),
  );
  return file;
}

/** A registry whose champion held out `championHeldOut`, trained with (holdout, seed) on `featureNames`. */
async function setup(opts: { championHeldOut: string[]; seed?: number; featureNames?: string[] }) {
  const dir = tempDir('fc-cmp-');
  const reg = new ModelRegistry(join(dir, 'registry'));
  const model = join(dir, 'model.json');
  writeFileSync(model, JSON.stringify({ engine: 'forest', featureNames: opts.featureNames ?? ['a', 'b'] }));
  const own = await parquetOfIds(join(dir, 'champion-holdout.parquet'), opts.championHeldOut);
  await reg.publish({
    runId: 'champ',
    files: [
      { name: 'model.json', from: model },
      { name: 'holdout-predictions.parquet', from: own },
    ],
    info: {
      engine: 'forest',
      primaryMetric: 'roc_auc',
      metrics: { holdout: { roc_auc: 0.8 } },
      lineage: { cutoff: '2024-01-01T00:00:00.000Z' },
      params: { holdout: 0.2, seed: opts.seed ?? 42 },
      featureNames: ['a', 'b'],
    },
    primaryValue: 0.8,
    cutoff: '2024-01-01T00:00:00.000Z',
    champion: { kind: 'none' },
    tolerance: 0.01,
  });
  const loaded = {
    definition: { registry: { primaryMetric: 'roc_auc', tolerance: 0.01 }, model: { holdout: 0.2, seed: 42 } },
  } as unknown as LoadedPipeline;
  const features = { featuresPath: await parquetOfIds(join(dir, 'features.parquet'), ids, true) } as FeatureRef;
  const compare = async (heldOut: string[]) =>
    compareWithChampion(reg, {
      loaded,
      runDir: dir,
      features,
      trained: { predictionsPath: await parquetOfIds(join(dir, `p${Math.random()}.parquet`), heldOut) } as TrainResult,
    });
  return { compare };
}

describe('the champion comparison says whether it is on the same rows', () => {
  it('a holdout that fell back to a random split is not the same rows (never sameRows: true)', async () => {
    const { compare } = await setup({ championHeldOut: hashHeldOut(0.2, 42) });
    const random = ids.filter((_, i) => i % 5 === 0); // what holdoutSplit would give: not the hash holdout
    const c = (await compare(random))!;
    assert.equal(c.sameRows, false);
    assert.match(c.why!, /fell back to a random split/);
    assert.deepEqual(c.metrics, { roc_auc: 0.8 }, 'the recorded value, labelled as such');
    assert.equal(c.predictionsPath, null);
  });

  it('a champion that held out other users (another seed), or whose own holdout was random, is not comparable', async () => {
    const other = await setup({ championHeldOut: hashHeldOut(0.2, 7), seed: 7 });
    assert.match((await other.compare(hashHeldOut(0.2, 42)))!.why!, /held out other users/);
    const randomOwn = await setup({ championHeldOut: ids.filter((_, i) => i % 5 === 1) });
    assert.match((await randomOwn.compare(hashHeldOut(0.2, 42)))!.why!, /own holdout was a random split/);
  });

  it('a champion trained on other features is not comparable (it used to be scored column by column anyway)', async () => {
    const { compare } = await setup({ championHeldOut: hashHeldOut(0.2, 42), featureNames: ['a', 'c'] });
    const c = (await compare(hashHeldOut(0.2, 42)))!;
    assert.equal(c.sameRows, false);
    assert.match(c.why!, /trained on other features/);
  });
});
