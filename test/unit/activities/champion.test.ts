/**
 * compareWithChampion, the publish step's check that "same rows" is true (MockActivityEnvironment, real DuckDB,
 * local registry, a tiny pipeline through the real extract, features, train and publish activities): no champion
 * gives null; the champion is re-scored on this run's held-out users and its predictions written to the run
 * folder; and each way the claim can be false (no held-out predictions here, another holdout seed, other
 * features) gives the champion's recorded value with the reason instead of a comparison on rows it trained on.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { compareWithChampion } from '../../../activities/champion';
import { publishModel } from '../../../activities/publish';
import { openRegistry } from '../../../registry/open';
import { withDuckDB } from '../../../warehouse/db';
import type { PipelineInput } from '../../../pipelines/schema';
import { inlinePipeline, scalar } from '../../helpers/warehouse';
import {
  env,
  features,
  runDirOf,
  tinyDefinition,
  tinyPipeline,
  trainHoldout,
  type TinyPipeline,
} from '../../helpers/tiny-pipeline';
import type { ChampionComparison, FeatureRef, PublishResult } from '../../../workflows/types';

const CUTOFF = '2024-03-15T00:00:00.000Z';

/** The same pipeline (same warehouse) with a changed definition. */
const redefined = (p: TinyPipeline, extra: Partial<PipelineInput>): TinyPipeline => ({
  ...p,
  loaded: inlinePipeline(tinyDefinition(p.loaded.definition.name, extra), p.loaded.baseDir),
});

async function run(p: TinyPipeline, runId: string) {
  const runDir = runDirOf(p, runId);
  const f: FeatureRef = await features(p, runDir, CUTOFF);
  return { loaded: p.loaded, runDir, features: f, trained: await trainHoldout(p, runDir, f) };
}

async function publish(p: TinyPipeline, runId: string): Promise<PublishResult> {
  const r = await run(p, runId);
  return env().run(publishModel, {
    ...r,
    runId,
    cutoff: CUTOFF,
    trainingCutoff: CUTOFF,
    cv: null,
    baselines: [],
    extract: p.extract,
  });
}

const compare = async (name: string, input: Awaited<ReturnType<typeof run>>): Promise<ChampionComparison | null> =>
  env().run(compareWithChampion, await openRegistry(name), input);

describe('compareWithChampion', () => {
  it('no champion: null; a champion: re-scored on these held-out users, predictions in the run folder', async () => {
    const p = await tinyPipeline('champact');
    const r0 = await run(p, 'champact-20240315T000000Z-aaaa');
    assert.equal(await compare('champact', r0), null);
    const champ = await publish(p, 'champact-20240315T000000Z-aaaa');
    const r = await run(p, 'champact-20240315T000000Z-bbbb');
    const c = (await compare('champact', r))!;
    assert.equal(c.version, champ.version);
    assert.equal(c.sameRows, true, c.why ?? '');
    assert.ok(c.predictionsPath!.startsWith(r.runDir) && existsSync(c.predictionsPath!));
    await withDuckDB(':memory:', async (conn) => {
      const mine = `read_parquet('${r.trained.predictionsPath}')`;
      const theirs = `read_parquet('${c.predictionsPath}')`;
      assert.equal(await scalar(conn, `SELECT count(*) FROM ${theirs}`), r.trained.nTest);
      const same = `SELECT count(*) FROM ${theirs} t JOIN ${mine} m USING (user_id) WHERE t.label = m.label`;
      assert.equal(await scalar(conn, same), r.trained.nTest, 'the very users (and labels) this model held out');
    });
    // The same logistic fit on the same data: the same AUC.
    assert.ok(Math.abs(c.metrics.roc_auc! - r.trained.metrics!.roc_auc!) < 1e-9);
  });

  it('not comparable, with the reason and the recorded value: no predictions, another seed, other features', async () => {
    const p = await tinyPipeline('champact2');
    const champ = await publish(p, 'champact2-20240315T000000Z-aaaa');
    const recorded = (await openRegistry('champact2')).champion()!.value;

    const r = await run(p, 'champact2-20240315T000000Z-bbbb');
    const noPreds = (await compare('champact2', { ...r, trained: { ...r.trained, predictionsPath: null } }))!;
    assert.equal(noPreds.sameRows, false);
    assert.match(noPreds.why!, /no held-out predictions/);
    assert.deepEqual(noPreds.metrics, { roc_auc: recorded });
    assert.equal(noPreds.version, champ.version);

    const seed = await run(redefined(p, { model: { engine: 'logistic', seed: 7 } }), 'champact2-20240315T000000Z-cccc');
    const s = (await compare('champact2', seed))!;
    assert.equal(s.sameRows, false);
    assert.match(s.why!, /the champion held out other users \(holdout [\d.]+, seed 42\)/);
    assert.equal(s.predictionsPath, null);

    const fewer = redefined(p, { features: { windows: ['7d'], funnel: ['view', 'addtocart', 'transaction'] } });
    const f = (await compare('champact2', await run(fewer, 'champact2-20240315T000000Z-dddd')))!;
    assert.equal(f.sameRows, false);
    assert.match(f.why!, /trained on other features \(\d+ vs \d+; the pipeline changed\)/);
    assert.deepEqual(f.metrics, { roc_auc: recorded });
  });
});
