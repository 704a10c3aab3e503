/**
 * prepareRerun as an adapter (MockActivityEnvironment, a tiny pipeline whose origin run trained a CV fold and the
 * holdout model through the real train activity): the rerun gets its own id and folder (the same nonce, the same
 * id); the origin's results of the steps before `from` are linked in, their result files pointing at the rerun's
 * own folder, and a retrain returns them as reused; results of `from` and later are not; when the inputs changed or
 * the origin's folder is gone, nothing is reused and the note says why.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { prepareRerun } from '../../../activities/rerun';
import { resolveCutoff, type ResolvedRun } from '../../../activities/definition';
import { trainModel } from '../../../activities/train';
import { env, features, tinyPipeline, trainHoldout } from '../../helpers/tiny-pipeline';
import type { RerunPlan, TrainResult } from '../../../workflows/types';

type Prepared = { run: ResolvedRun; rerun: RerunPlan };

describe('prepareRerun (activity)', () => {
  it('links the results before `from` into a new run folder; later ones are computed again', async () => {
    const p = await tinyPipeline('rerunact', { users: 300 });
    const planned: ResolvedRun = await env().run(resolveCutoff, { loaded: p.loaded, cutoff: '2024-03-15' });
    const f = await features(p, planned.runDir, planned.cutoff);
    const holdout = await trainHoldout(p, planned.runDir, f);
    const fold = { kind: 'fold' as const, strategy: 'kfold', k: 3, i: 0 };
    const trainFold = (runDir: string): Promise<TrainResult> =>
      env().run(trainModel, {
        runDir,
        featuresPath: f.featuresPath,
        sequencesPath: f.sequencesPath,
        vocabPath: f.vocabPath,
        model: p.loaded.definition.model,
        engine: 'logistic',
        split: fold,
      });
    const origin = await trainFold(planned.runDir);

    const input = { planned, of: planned.runId, from: 'train' as const, hasPublish: true, nonce: 'n1' };
    const a: Prepared = await env().run(prepareRerun, input);
    assert.notEqual(a.run.runId, planned.runId);
    assert.match(a.run.runId, /^rerunact-20240315T000000Z-[0-9a-f]{10}$/);
    assert.equal(a.run.runDir, join(planned.runDir, '..', a.run.runId));
    assert.equal(a.run.cutoff, planned.cutoff);
    assert.deepEqual(a.rerun.reused, ['cross-validate']);
    assert.match(a.rerun.note, /reused cross-validate of .* \(same inputs\); re-executed from train/);
    assert.equal(((await env().run(prepareRerun, input)) as Prepared).run.runId, a.run.runId, 'same nonce, same id');
    assert.notEqual(((await env().run(prepareRerun, { ...input, nonce: 'n2' })) as Prepared).run.runId, a.run.runId);

    // The fold's model is shared (a hard link), its result names the rerun's own files, and a retrain reuses it.
    const models = join(a.run.runDir, 'models');
    const fileOf = (r: TrainResult) => r.modelPath.split('/').pop()!;
    assert.equal(statSync(join(models, fileOf(origin))).ino, statSync(origin.modelPath).ino);
    const result = readFileSync(join(models, 'logistic-fold1of3.result.json'), 'utf8');
    assert.ok(result.includes(a.run.runDir) && !result.includes(planned.runDir + '/'), result);
    const again = await trainFold(a.run.runDir);
    assert.equal(again.reused, true);
    assert.equal(again.modelPath, join(models, fileOf(origin)));
    assert.deepEqual(again.metrics, origin.metrics);
    // The holdout model belongs to the train step, re-executed: not linked.
    assert.ok(!existsSync(join(models, fileOf(holdout))));

    const late: Prepared = await env().run(prepareRerun, { ...input, from: 'score' as const, nonce: 'n3' });
    assert.deepEqual(late.rerun.reused, ['cross-validate', 'train', 'publish']);
  });

  it('nothing reused, with the reason, when the inputs changed or the origin is gone', async () => {
    const p = await tinyPipeline('rerunact2', { users: 100 });
    const planned: ResolvedRun = await env().run(resolveCutoff, { loaded: p.loaded, cutoff: '2024-03-15' });
    await trainHoldout(p, planned.runDir, await features(p, planned.runDir, planned.cutoff));
    const other = `${planned.runId.replace(/-[0-9a-f]+$/, '')}-0123456789`;
    const base = { planned, from: 'publish' as const, hasPublish: true, nonce: 'n' };
    const changed: Prepared = await env().run(prepareRerun, {
      ...base,
      planned: { ...planned, runId: other, runDir: join(planned.runDir, '..', other), key: '0123456789' },
      of: planned.runId,
    });
    assert.deepEqual(changed.rerun.reused, []);
    assert.match(changed.rerun.note, /nothing reused: its inputs changed since .*every step re-executed/);
    assert.ok(!existsSync(join(changed.run.runDir, 'models')));

    rmSync(planned.runDir, { recursive: true });
    const gone: Prepared = await env().run(prepareRerun, { ...base, of: planned.runId });
    assert.deepEqual(gone.rerun.reused, []);
    assert.match(gone.rerun.note, /the folder of .* is gone/);
    assert.ok(existsSync(gone.run.runDir), 'the rerun has its own folder');
  });
});
