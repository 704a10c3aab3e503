import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gate, ModelRegistry } from '../../../registry';
import { tempDir } from '../../helpers/warehouse';

function modelFile(dir: string, content: string): string {
  const f = join(dir, `model-${content}.json`);
  writeFileSync(f, JSON.stringify({ content }));
  return f;
}

const info = (auc: number) => ({
  engine: 'forest',
  primaryMetric: 'roc_auc',
  metrics: { holdout: { roc_auc: auc } },
  lineage: { cutoff: '2024-01-01' },
  params: {},
  featureNames: ['a'],
});

describe('champion gate', () => {
  it('promotes within tolerance, keeps a worse model as challenger, respects the metric direction', () => {
    assert.equal(gate('roc_auc', 0.8, null, 0.01).decision, 'first');
    assert.equal(gate('roc_auc', 0.795, 0.8, 0.01).decision, 'promoted');
    const worse = gate('roc_auc', 0.78, 0.8, 0.01);
    assert.equal(worse.decision, 'challenger');
    assert.match(worse.reason, /worse by 0\.0200/);
    assert.equal(gate('log_loss', 0.3, 0.25, 0.01).decision, 'challenger', 'higher log loss is worse');
    assert.equal(gate('log_loss', 0.2, 0.25, 0.01).decision, 'promoted');
  });
});

describe('model registry', () => {
  it('publishes ordered immutable versions with a manifest, and moves the champion only through the gate', async () => {
    const root = tempDir('fc-reg-');
    const src = tempDir();
    const reg = new ModelRegistry(root);
    const a = await reg.publish({
      runId: 'r1',
      files: [{ name: 'model.json', from: modelFile(src, 'a') }],
      info: info(0.8),
      primaryValue: 0.8,
      championValue: null,
      tolerance: 0.01,
    });
    assert.equal(a.version, 'v0001-r1');
    assert.equal(a.decision, 'first');
    assert.deepEqual(reg.verify('v0001'), []);
    const manifest = JSON.parse(readFileSync(join(a.versionDir, 'manifest.json'), 'utf8'));
    assert.deepEqual(
      manifest.files.map((f: { path: string }) => f.path),
      ['model.json', 'version.json'],
    );
    const b = await reg.publish({
      runId: 'r2',
      files: [{ name: 'model.json', from: modelFile(src, 'b') }],
      info: info(0.7),
      primaryValue: 0.7,
      championValue: 0.8,
      tolerance: 0.01,
    });
    assert.equal(b.decision, 'challenger');
    assert.equal(reg.champion()!.version, 'v0001-r1');
    const c = await reg.publish({
      runId: 'r3',
      files: [{ name: 'model.json', from: modelFile(src, 'c') }],
      info: info(0.85),
      primaryValue: 0.85,
      championValue: 0.8,
      tolerance: 0.01,
    });
    assert.equal(c.decision, 'promoted');
    assert.equal(reg.champion()!.version, 'v0003-r3');
    await reg.rollback();
    assert.equal(reg.champion()!.version, 'v0001-r1');
    await reg.promote('v0002');
    assert.equal(reg.champion()!.version, 'v0002-r2');
    writeFileSync(join(reg.versionDir('v0002'), 'model.json'), 'tampered');
    assert.deepEqual(reg.verify('v0002'), ['model.json']);
  });

  it('is idempotent for a retried publish of the same run and model', async () => {
    const reg = new ModelRegistry(tempDir('fc-reg-'));
    const f = modelFile(tempDir(), 'x');
    const one = await reg.publish({
      runId: 'r1',
      files: [{ name: 'model.json', from: f }],
      info: info(0.8),
      primaryValue: 0.8,
      championValue: null,
      tolerance: 0,
    });
    const two = await reg.publish({
      runId: 'r1',
      files: [{ name: 'model.json', from: f }],
      info: info(0.8),
      primaryValue: 0.8,
      championValue: null,
      tolerance: 0,
    });
    assert.equal(two.version, one.version);
    assert.equal(reg.versions().length, 1);
  });

  it('a crash between writing a version and moving the pointer leaves the previous champion intact', async () => {
    const reg = new ModelRegistry(tempDir('fc-reg-'));
    const src = tempDir();
    await reg.publish({
      runId: 'r1',
      files: [{ name: 'model.json', from: modelFile(src, 'a') }],
      info: info(0.8),
      primaryValue: 0.8,
      championValue: null,
      tolerance: 0,
    });
    await assert.rejects(
      reg.publish({
        runId: 'r2',
        files: [{ name: 'model.json', from: modelFile(src, 'b') }],
        info: info(0.9),
        primaryValue: 0.9,
        championValue: 0.8,
        tolerance: 0,
        crashBeforeChampion: true,
      }),
      /injected crash/,
    );
    assert.equal(reg.champion()!.version, 'v0001-r1');
    assert.deepEqual(reg.verify('v0001'), []);
    assert.ok(!existsSync(join(reg.root, '.lock')), 'the lock is released');
    assert.ok(!readdirSync(reg.root).some((n) => n.startsWith('.tmp-')), 'no half-built version folder is left');
  });

  it('concurrent publishes get distinct versions and one consistent champion', async () => {
    const root = tempDir('fc-reg-');
    const src = tempDir();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        new ModelRegistry(root).publish({
          runId: `r${i}`,
          files: [{ name: 'model.json', from: modelFile(src, `m${i}`) }],
          info: info(0.7 + i / 100),
          primaryValue: 0.7 + i / 100,
          championValue: 0.7,
          tolerance: 0.5,
        }),
      ),
    );
    const versions = results.map((r) => r.version.slice(0, 5)).sort();
    assert.deepEqual(versions, ['v0001', 'v0002', 'v0003', 'v0004', 'v0005', 'v0006', 'v0007', 'v0008']);
    const reg = new ModelRegistry(root);
    assert.ok(reg.versions().includes(reg.champion()!.version));
    for (const v of reg.versions()) assert.deepEqual(reg.verify(v), []);
  });
});
