/**
 * Sanity warnings: a baseline (or a blend's part) that beats the model on the same held-out users by more than the
 * tolerance is a warning, and the gate then keeps the model a challenger (a first model too); promoting it by hand
 * needs a reason, recorded in the history. F1 is reported at a threshold chosen on the CV folds, not at 0.5.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelRegistry, sanityRefusal, sanityWarnings } from '../../../registry';
import { modelsCommand } from '../../../cli/models';
import { f1AtOutOfFoldThreshold } from '../../../activities/publish';
import { paths } from '../../../infra/paths';
import { withDuckDB } from '../../../warehouse/db';
import { writeColumnsToParquet } from '../../../warehouse/parquet';
import { runCli } from '../../helpers/cli';
import { tempDir } from '../../helpers/warehouse';
import type { TrainResult } from '../../../workflows/types';

describe('sanity warnings and the F1 threshold', () => {
  it('warns when a baseline or a blend part beats the model by more than the tolerance', () => {
    const base = { metric: 'roc_auc', tolerance: 0.005 };
    // The figures: forest 0.799 vs its logistic baseline 0.830; a blend at 0.774 vs logistic 0.784.
    const forest = sanityWarnings({
      ...base,
      engine: 'forest',
      holdout: { roc_auc: 0.799 },
      baselines: [{ engine: 'logistic', metrics: { roc_auc: 0.83 } }],
    });
    assert.equal(forest.length, 1);
    assert.match(forest[0].message, /its baseline logistic beats the forest model .*roc_auc 0\.830 vs 0\.799/);
    const blend = sanityWarnings({
      ...base,
      engine: 'blend',
      holdout: { roc_auc: 0.774 },
      baselines: [
        { engine: 'forest', metrics: { roc_auc: 0.77 } },
        { engine: 'lstm', metrics: { roc_auc: 0.7 } },
        { engine: 'logistic', metrics: { roc_auc: 0.784 } },
      ],
    });
    assert.deepEqual(
      blend.map((w) => w.engine),
      ['logistic'],
    );
    const noisy = sanityWarnings({
      ...base,
      engine: 'forest',
      holdout: { roc_auc: 0.679, positives: 23 },
      baselines: [{ engine: 'logistic', metrics: { roc_auc: 0.728 } }],
    });
    assert.equal(noisy[0].refuses, false, 'a 23-positive holdout warns but does not refuse');
    assert.match(noisy[0].message, /only 23 positives \(fewer than 100\), too noisy/);
    assert.equal(sanityRefusal(noisy), null);
    const close = { engine: 'logistic', metrics: { roc_auc: 0.803 } };
    assert.deepEqual(
      sanityWarnings({ ...base, engine: 'forest', holdout: { roc_auc: 0.799 }, baselines: [close] }),
      [],
    );
    const logLoss = sanityWarnings({
      metric: 'log_loss',
      tolerance: 0,
      engine: 'forest',
      holdout: { log_loss: 0.2 },
      baselines: [{ engine: 'logistic', metrics: { log_loss: 0.15 } }],
    });
    assert.equal(logLoss.length, 1, 'lower log loss is better');
  });

  it('the gate keeps a model its baseline beats as a challenger; promoting it needs --reason', async () => {
    process.env.FUNNELCAST_REGISTRY = tempDir('fc-sanity-');
    const reg = new ModelRegistry(paths.registry('sample'));
    const f = join(tempDir(), 'model.json');
    writeFileSync(f, '{}');
    const sanity = sanityWarnings({
      metric: 'roc_auc',
      tolerance: 0.01,
      engine: 'forest',
      holdout: { roc_auc: 0.799 },
      baselines: [{ engine: 'logistic', metrics: { roc_auc: 0.83 } }],
    });
    const r = await reg.publish({
      runId: 'sample-r1',
      files: [{ name: 'model.json', from: f }],
      info: {
        engine: 'forest',
        primaryMetric: 'roc_auc',
        metrics: { holdout: { roc_auc: 0.799 }, sanity },
        lineage: { cutoff: '2024-05-01' },
        params: {},
        featureNames: ['a'],
      },
      primaryValue: 0.799,
      cutoff: '2024-05-01T00:00:00.000Z',
      champion: { kind: 'none' },
      tolerance: 0.01,
      sanity,
    });
    assert.equal(r.decision, 'challenger');
    assert.match(r.reason, /kept as challenger, not made champion: its baseline logistic beats the forest model/);
    assert.equal(reg.champion(), null, 'not even a first model becomes champion');
    const models = (args: string[]) => runCli(modelsCommand, [...args, '--pipeline', 'sample']);
    assert.equal((await models(['promote', 'v0001'])).code, 2);
    const forced = await models(['promote', 'v0001', '--reason', 'the baseline cannot score new users']);
    assert.equal(forced.code, 0);
    assert.equal(reg.champion()!.version, 'v0001-sample-r1');
    assert.match(reg.history().at(-1)!.reason, /promoted by hand: the baseline cannot score new users \(although its/);
    delete process.env.FUNNELCAST_REGISTRY;
  });

  it('F1 is measured at the mean of the folds’ best-F1 thresholds, and says so', async () => {
    // A 4 % base rate with scores below 0.5: F1 at 0.5 is 0; at the folds' threshold (0.1) it is 1.
    const n = 500;
    const y = Array.from({ length: n }, (_, i) => (i % 25 === 0 ? 1 : 0));
    const p = y.map((v, i) => (v ? 0.2 : 0.01 + (i % 7) / 100));
    const file = join(tempDir(), 'holdout.predictions.parquet');
    await withDuckDB(':memory:', (conn) =>
      writeColumnsToParquet(conn, file, [
        { name: 'user_id', type: 'VARCHAR', values: y.map((_, i) => `u${i}`) },
        { name: 'label', type: 'INTEGER', values: y },
        { name: 'score', type: 'DOUBLE', values: p },
      ]),
    );
    const trained = { predictionsPath: file, metrics: {} } as unknown as TrainResult;
    const cv = { strategy: 'kfold', folds: [{}, {}, {}], mean: { best_f1_threshold: 0.1 }, std: {} };
    const f1 = await f1AtOutOfFoldThreshold({ trained, cv });
    assert.deepEqual([f1!.threshold, f1!.f1, f1!.recall], [0.1, 1, 1]);
    assert.match(f1!.chosenBy, /mean of the 3 CV folds' best-F1 thresholds \(out-of-fold predictions\)/);
    assert.equal(await f1AtOutOfFoldThreshold({ trained, cv: null }), null);
  });
});
