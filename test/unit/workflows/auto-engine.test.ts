/**
 * `model.engine: "auto"` (issue 23): the choice among cross-validated candidates — best by the primary metric
 * (lower for log loss), earlier candidate on a tie, later candidates skipped (and said so) once the budget is
 * spent — and the definition rules. The run itself is covered by test/integration/auto-engine.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chooseEngine } from '../../../workflows/auto';
import type { CvSummary, TrainResult } from '../../../workflows/types';
import { parsePipeline } from '../../../pipelines/load';

/** Folds whose metric value is given per engine; `clock` advances by `cost` minutes per engine cross-validated. */
function deps(scores: Record<string, number>, metric: string, cost: Record<string, number> = {}) {
  let clock = 0;
  const calls: string[] = [];
  return {
    calls,
    deps: {
      trainFold: async (engine: string) => {
        calls.push(engine);
        return { engine, metrics: { [metric]: scores[engine] } } as unknown as TrainResult;
      },
      summarise: async (engine: string, results: TrainResult[]) => {
        clock += (cost[engine] ?? 1) * 60_000;
        return {
          mean: { [metric]: scores[engine] },
          std: { [metric]: 0.01 },
          folds: [],
          strategy: 'kfold',
          n: results.length,
        } as unknown as CvSummary;
      },
      now: () => clock,
    },
  };
}

const splits = [0, 1, 2].map((i) => ({ kind: 'fold', strategy: 'kfold', k: 3, i }));

describe('chooseEngine', () => {
  it('picks the highest ROC AUC and cross-validates every candidate on every fold', async () => {
    const d = deps({ forest: 0.81, logistic: 0.79, mlrf: 0.8 }, 'roc_auc');
    const s = await chooseEngine(
      { candidates: ['forest', 'logistic', 'mlrf'], budgetMs: 3_600_000, metric: 'roc_auc', splits },
      d.deps,
    );
    assert.equal(s.chosen, 'forest');
    assert.deepEqual(
      s.candidates.map((c) => c.engine),
      ['forest', 'logistic', 'mlrf'],
    );
    assert.equal(d.calls.length, 9);
  });

  it('picks the lowest log loss, and keeps the earlier candidate on a tie', async () => {
    const a = await chooseEngine(
      { candidates: ['forest', 'logistic'], budgetMs: 3_600_000, metric: 'log_loss', splits },
      deps({ forest: 0.3, logistic: 0.25 }, 'log_loss').deps,
    );
    assert.equal(a.chosen, 'logistic');
    const b = await chooseEngine(
      { candidates: ['logistic', 'forest'], budgetMs: 3_600_000, metric: 'roc_auc', splits },
      deps({ forest: 0.8, logistic: 0.8 }, 'roc_auc').deps,
    );
    assert.equal(b.chosen, 'logistic');
  });

  it('skips the candidates left when the budget is spent, and says so', async () => {
    const d = deps({ forest: 0.7, logistic: 0.75, mlrf: 0.9 }, 'roc_auc', { forest: 30, logistic: 40 });
    const s = await chooseEngine(
      { candidates: ['forest', 'logistic', 'mlrf'], budgetMs: 60 * 60_000, metric: 'roc_auc', splits },
      d.deps,
    );
    assert.deepEqual(s.skipped, ['mlrf']);
    assert.equal(s.chosen, 'logistic');
    assert.ok(!d.calls.includes('mlrf'));
  });
});

describe('engine "auto" in a definition', () => {
  const base = {
    name: 'a',
    sources: { events: { path: 'e.csv', columns: { user_id: 'u', ts: 't', event: 'e' } } },
    label: { event: 'buy' },
  };
  it('needs cross-validation to choose with', () => {
    assert.throws(
      () => parsePipeline({ ...base, model: { engine: 'auto' }, cv: { strategy: 'none' } }, '/tmp/a.json'),
      /engine "auto" chooses by cross-validation/,
    );
    const ok = parsePipeline({ ...base, model: { engine: 'auto' } }, '/tmp/a.json');
    assert.deepEqual(ok.model.auto.candidates, ['forest', 'boosted', 'logistic']);
  });
  it('refuses a candidate listed twice', () => {
    assert.throws(
      () =>
        parsePipeline(
          { ...base, model: { engine: 'auto', auto: { candidates: ['forest', 'forest'] } } },
          '/tmp/a.json',
        ),
      /different engines/,
    );
  });
});
