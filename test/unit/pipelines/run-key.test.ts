import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parsePipeline } from '../../../pipelines/load';
import type { PipelineInput } from '../../../pipelines/schema';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  canonicalJson,
  resultCodeHash,
  resultCodeHashOf,
  runKey,
  RUN_KEY_LENGTH,
  type LoadedFile,
} from '../../../infra/run-key';
import { runCutoffStamp, runIdFor } from '../../../infra/paths';
import { previousRunDir } from '../../../activities/segments';
import { tempDir } from '../../helpers/warehouse';

const base: PipelineInput = {
  name: 'shop',
  description: 'the shop',
  sources: { events: { path: 'events.csv', columns: { user_id: 'uid', ts: 'time', event: 'type' } } },
  label: { event: 'purchase', horizon: '30d' },
  model: { engine: 'forest', seed: 1, forest: { nTrees: 50 } },
  campaigns: [{ name: 'top', description: 'the best', filter: { field: 'propensity_decile', op: 'lte', value: 2 } }],
  segments: { deciles: '1-is-top' },
};
const files: LoadedFile[] = [{ source: 'events', sha256: 'a'.repeat(64), loaded: 1000 }];
const cutoff = '2024-03-01T00:00:00.000Z';
const key = (def: PipelineInput, f = files, c = cutoff, code = 'v1') =>
  runKey({ definition: parsePipeline(def), cutoff: c, files: f, code });
// A loosely typed copy to edit (tests reach into nested optional parts of the definition).
type Editable = Record<string, any>;
const edit = (fn: (d: Editable) => void): PipelineInput => {
  const d = structuredClone(base) as Editable;
  fn(d);
  return d as PipelineInput;
};

describe('run content key', () => {
  it("keeps a backfill's runs (backtests) apart from live runs of the same content", () => {
    const backtest = runKey({ definition: parsePipeline(base), cutoff, files, code: 'v1', backtest: true });
    // A backtest never moves the champion: it must not answer a live run at that cutoff, nor the reverse.
    assert.notEqual(backtest, key(base));
    assert.equal(runKey({ definition: parsePipeline(base), cutoff, files, code: 'v1', backtest: false }), key(base));
    assert.equal(backtest, runKey({ definition: parsePipeline(base), cutoff, files, code: 'v1', backtest: true }));
  });

  it('is short hex and the same for the same inputs, key order and descriptions aside', () => {
    assert.match(key(base), new RegExp(`^[0-9a-f]{${RUN_KEY_LENGTH}}$`));
    assert.equal(key(base), key(structuredClone(base)));
    const reordered = Object.fromEntries(Object.entries(base).reverse()) as PipelineInput;
    assert.equal(key(reordered), key(base));
    assert.equal(key(edit((d) => (d.description = 'another text'))), key(base));
    assert.equal(key(edit((d) => (d.campaigns[0].description = 'other'))), key(base));
    assert.equal(key(edit((d) => (d.defaultCutoff = '2020-01-01'))), key(base), 'the resolved cutoff is hashed');
    assert.equal(key(base, files, '2024-03-01T00:00:00Z'), key(base), 'the same instant');
  });

  it('changes with every input that changes results', () => {
    const variants = [
      edit((d) => (d.model.forest.nTrees = 51)),
      edit((d) => (d.model.seed = 2)),
      edit((d) => (d.model.engine = 'logistic')),
      edit((d) => (d.label.horizon = '14d')),
      edit((d) => (d.sources.events.columns.event = 'kind')),
      edit((d) => (d.cv = { strategy: 'none' })),
      edit((d) => (d.features = { windows: ['7d'] })),
      edit((d) => (d.campaigns[0].filter.value = 8)),
      edit((d) => (d.registry = { tolerance: 0.05 })),
    ];
    const keys = new Set([key(base), ...variants.map((d) => key(d))]);
    assert.equal(keys.size, variants.length + 1);
    assert.notEqual(key(base, files, '2024-03-02T00:00:00Z'), key(base), 'cutoff');
    assert.notEqual(key(base, [...files, { source: 'events', sha256: 'b'.repeat(64), loaded: 10 }]), key(base));
    assert.notEqual(key(base, [{ ...files[0], loaded: 999 }]), key(base), 'rows loaded');
    assert.notEqual(key(base, files, cutoff, 'v2'), key(base), 'code version');
  });

  it('versions the code that computes results, not the command line', () => {
    const root = tempDir('fc-code-');
    const put = (file: string, text: string) => {
      mkdirSync(join(root, file, '..'), { recursive: true });
      writeFileSync(join(root, file), text);
    };
    put('ml/forest/index.js', 'trees');
    put('cli/run.js', 'print');
    const v1 = resultCodeHashOf(root);
    assert.match(v1, /^[0-9a-f]{64}$/);
    put('cli/run.js', 'print more');
    put('ml/forest/index.js.map', '{}');
    assert.equal(resultCodeHashOf(root), v1, 'the CLI and source maps do not change results');
    put('ml/forest/index.js', 'more trees');
    assert.notEqual(resultCodeHashOf(root), v1);
    assert.equal(resultCodeHash(), resultCodeHash());
  });

  it('writes canonical JSON (sorted keys at every level, arrays in order)', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [2, 1], c: null } }), '{"a":{"c":null,"d":[2,1]},"b":1}');
  });
});

describe('runs of one pipeline', () => {
  it('reads the cutoff back from a run id, with or without its content key', () => {
    assert.equal(runCutoffStamp(runIdFor('shop-2', '2024-03-01', '0a1b2c3d4e')), '20240301T000000Z');
    assert.equal(runCutoffStamp('shop-20240301T000000Z'), '20240301T000000Z');
  });

  it("compares a run's segments with a run at an earlier cutoff, never with another definition's at the same one", () => {
    const parent = tempDir('fc-runs-');
    const run = (id: string, segments = true) => {
      mkdirSync(join(parent, id), { recursive: true });
      if (segments) writeFileSync(join(parent, id, 'segments.parquet'), '');
      return join(parent, id);
    };
    const earlier = run(runIdFor('shop', '2024-02-01', 'ffffffffff'));
    run(runIdFor('shop', '2024-02-15', '0000000000'), false); // no segments (train-only)
    const me = run(runIdFor('shop', '2024-03-01', 'ffffffffff'));
    run(runIdFor('shop', '2024-03-01', '0000000000')); // another definition, same cutoff: sorts before `me`
    assert.equal(previousRunDir(me), earlier);
  });
});
