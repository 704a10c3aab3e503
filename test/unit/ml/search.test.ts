import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SEARCH_SPACES, searchTrials } from '../../../ml/search';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../../infra/root';
import { pipelineDefinition } from '../../../pipelines/schema';
import { modelSpec } from '../../../pipelines/schema/model';
import { searchParams } from '../../../workflows/auto';
import type { CvSummary, TrainResult } from '../../../workflows/types';

const current = modelSpec.parse({ engine: 'boosted' }).boosted as unknown as Record<string, unknown>;

describe('model.search', () => {
  it('draws the same trials for a seed, others for another seed; trial 0 is the definition’s settings', () => {
    const a = searchTrials(DEFAULT_SEARCH_SPACES.boosted, 6, 7, current);
    assert.deepEqual(searchTrials(DEFAULT_SEARCH_SPACES.boosted, 6, 7, current), a);
    assert.notDeepEqual(searchTrials(DEFAULT_SEARCH_SPACES.boosted, 6, 8, current).slice(1), a.slice(1));
    // A longer search starts with the same trials (each drawn from its own seed).
    assert.deepEqual(searchTrials(DEFAULT_SEARCH_SPACES.boosted, 9, 7, current).slice(0, 6), a);
    assert.equal(a[0].variant, null);
    assert.deepEqual(a[0].params, { featureSubsample: 1, l2: 0, learningRate: 0.1, minDataInLeaf: 20, numLeaves: 31 });
    for (const t of a.slice(1)) {
      assert.match(t.variant!, /^search7-t\d$/);
      assert.ok([7, 15, 31, 63, 127].includes(t.params.numLeaves as number));
      assert.ok((t.params.learningRate as number) >= 0.02 && (t.params.learningRate as number) <= 0.2);
      // Every trial is a valid setting of the engine.
      assert.ok(modelSpec.safeParse({ engine: 'boosted', boosted: t.params }).success);
    }
    assert.equal(new Set(a.map((t) => JSON.stringify(t.params))).size, 6);
  });

  it('cross-validates trials within the budget and keeps the best (ties keep the earlier)', async () => {
    const trials = searchTrials({ numLeaves: [7, 15, 63] }, 4, 3, current);
    const auc = (m: { boosted: { numLeaves: number } }) =>
      ({ 7: 0.7, 15: 0.75, 31: 0.72, 63: 0.75 })[m.boosted.numLeaves]!;
    let clock = 0;
    const seen: (string | null)[] = [];
    const run = (budgetMs: number) =>
      searchParams(
        {
          engine: 'boosted',
          model: modelSpec.parse({ engine: 'boosted' }),
          trials,
          seed: 3,
          budgetMs,
          metric: 'roc_auc',
          splits: [{ kind: 'fold' }, { kind: 'fold' }],
        },
        {
          trainFold: async (m, v) => {
            seen.push(v);
            clock += 1000;
            return { metrics: { roc_auc: auc(m as never) } } as unknown as TrainResult;
          },
          summarise: async (r) =>
            ({ mean: { roc_auc: r[0].metrics!.roc_auc }, std: { roc_auc: 0 } }) as unknown as CvSummary,
          now: () => clock,
        },
      );
    const all = await run(60_000);
    const means = all.search.trials.map((t) => t.mean);
    const best = Math.max(...means);
    assert.equal(all.search.chosen, means.indexOf(best));
    assert.equal(all.model.boosted.numLeaves, trials[all.search.chosen].params.numLeaves);
    assert.equal(all.variant, trials[all.search.chosen].variant);
    assert.equal(all.model.boosted.nRounds, 500, 'other settings kept');
    assert.equal(seen.length, 8);
    // A budget of one trial's time: trial 0 runs, the rest are stated as skipped.
    clock = 0;
    const short = await run(1);
    assert.equal(short.search.trials.length, 1);
    assert.equal(short.search.skipped, 3);
    assert.equal(short.search.chosen, 0);
    assert.equal(short.variant, null);
  });

  it('refuses a search of an engine it cannot tune, an unknown setting, or values outside the setting’s limits', () => {
    assert.ok(modelSpec.safeParse({ engine: 'boosted', search: { trials: 4 } }).success);
    assert.ok(modelSpec.safeParse({ engine: 'auto', search: { space: { l2: [0, 1] } } }).success);
    assert.equal(modelSpec.safeParse({ engine: 'lstm', search: {} }).success, false);
    assert.equal(modelSpec.safeParse({ engine: 'boosted', search: { space: { leaves: [1, 2] } } }).success, false);
    assert.equal(modelSpec.safeParse({ engine: 'boosted', search: { space: { numLeaves: [1, 31] } } }).success, false);
    assert.equal(
      modelSpec.safeParse({ engine: 'boosted', search: { space: { learningRate: { min: 0, max: 0.3, log: true } } } })
        .success,
      false,
    );
  });

  it('needs CV folds: a definition with model.search and cv.strategy "none" is refused, saying why', () => {
    const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
    def.model = { ...(def.model ?? {}), engine: 'boosted', search: { trials: 3 } };
    assert.ok(pipelineDefinition.safeParse(def).success);
    def.cv = { strategy: 'none' };
    const r = pipelineDefinition.safeParse(def);
    assert.equal(r.success, false);
    assert.match(JSON.stringify(r.error?.issues), /cv\.strategy/);
  });
});
