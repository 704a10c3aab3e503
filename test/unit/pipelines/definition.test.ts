import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPipeline, parsePipeline, PipelineDefinitionError, resolvePipelineFile } from '../../../pipelines/load';
import { durationMs } from '../../../pipelines/schema';
import { runIdFor } from '../../../infra/paths';

const minimal = {
  name: 'shop',
  sources: { events: { path: 'events.csv', columns: { user_id: 'uid', ts: 'time', event: 'type' } } },
  label: { event: 'purchase', horizon: '30d' },
};

describe('pipeline definition', () => {
  it('fills defaults for a minimal definition', () => {
    const d = parsePipeline(minimal);
    assert.equal(d.model.engine, 'forest');
    assert.equal(d.model.forest.nTrees, 100);
    assert.equal(d.cv.strategy, 'kfold');
    assert.deepEqual(d.features.windows, ['7d', '30d', '90d']);
  });

  it('names the path of every problem', () => {
    assert.throws(
      () => parsePipeline({ ...minimal, label: { horizon: '30 days' } }, 'x.json'),
      (e: PipelineDefinitionError) =>
        e.issues.some((i) => i.startsWith('label.event')) &&
        e.issues.some((i) => i.startsWith('label.horizon')) &&
        e.message.includes('x.json'),
    );
  });

  it('rejects hostile names, columns and filters before any work', () => {
    for (const name of ['../etc', '/abs', 'a;rm -rf', 'A B', '$(x)']) {
      assert.throws(() => parsePipeline({ ...minimal, name }), PipelineDefinitionError, name);
    }
    const sqlColumn = {
      ...minimal,
      sources: { events: { path: 'e.csv', columns: { user_id: 'uid"; DROP TABLE events; --', ts: 't', event: 'e' } } },
    };
    assert.throws(() => parsePipeline(sqlColumn), /columns\.user_id/);
    const sqlFilter = {
      ...minimal,
      campaigns: [{ name: 'c', filter: { field: 'propensity; DROP TABLE x', op: 'gt', value: 1 } }],
    };
    assert.throws(() => parsePipeline(sqlFilter), PipelineDefinitionError);
  });

  it('refuses a campaign on churn risk when the pipeline defines no churn model', () => {
    const campaign = { name: 'keep', filter: { field: 'churn_risk_decile', op: 'gte', value: 8 }, action: 'call' };
    assert.throws(
      () => parsePipeline({ ...minimal, campaigns: [{ ...campaign, filter: { not: campaign.filter } }] }),
      /campaigns\.0\.filter.*campaign "keep" filters on churn risk, but the pipeline defines no "churn" model/s,
    );
    const d = parsePipeline({ ...minimal, churn: {}, segments: { deciles: '1-is-top' }, campaigns: [campaign] });
    assert.deepEqual(d.churn, { within: '365d' });
  });

  it('refuses a decile filter written without the decile order it means (the order flipped in December 2026)', () => {
    const campaign = { name: 'top', filter: { field: 'propensity_decile', op: 'gte', value: 9 }, action: 'offer' };
    assert.throws(
      () => parsePipeline({ ...minimal, campaigns: [{ ...campaign, filter: { all: [campaign.filter] } }] }),
      /campaigns\.0\.filter.*deciles now count from the top.*"gte 9" meant the top two and now means the bottom two/s,
    );
    const d = parsePipeline({ ...minimal, segments: { deciles: '1-is-top' }, campaigns: [campaign] });
    assert.equal(d.segments.deciles, '1-is-top');
  });

  it('bounds numeric parameters that could exhaust the machine', () => {
    assert.throws(() => parsePipeline({ ...minimal, cv: { folds: 1000 } }), /cv\.folds/);
    assert.throws(() => parsePipeline({ ...minimal, model: { forest: { nTrees: 1e9 } } }), /model\.forest\.nTrees/);
    assert.throws(
      () => parsePipeline({ ...minimal, features: { sequenceLength: 100000 } }),
      /features\.sequenceLength/,
    );
  });

  it('resolves bundled names and refuses odd references', () => {
    assert.throws(() => resolvePipelineFile('no_such_pipeline'), /no bundled pipeline/);
    assert.throws(() => resolvePipelineFile('Bad Name'), /a-z/);
  });

  it('loads a file, hashes its bytes, and reports invalid JSON with the file name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fc-def-'));
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify(minimal));
    const loaded = loadPipeline(good);
    assert.equal(loaded.definition.name, 'shop');
    assert.match(loaded.hash, /^[0-9a-f]{64}$/);
    assert.equal(loaded.baseDir, dir);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ "name": ');
    assert.throws(
      () => loadPipeline(bad),
      (e: Error) => e.message.includes('bad.json') && e.message.includes('not valid JSON'),
    );
  });

  it('parses durations and makes stable run ids', () => {
    assert.equal(durationMs('30d'), 30 * 86400e3);
    assert.equal(durationMs('2w'), 14 * 86400e3);
    assert.throws(() => durationMs('3 days'));
    assert.equal(runIdFor('shop', '2024-03-01', '0123456789'), 'shop-20240301T000000Z-0123456789');
    assert.equal(runIdFor('shop', '2024-03-01T00:00:00.000Z', 'k'), runIdFor('shop', '2024-03-01T00:00:00Z', 'k'));
  });
});
