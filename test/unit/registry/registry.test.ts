import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gate, ModelRegistry, type ChampionStanding } from '../../../registry';
import { tempDir } from '../../helpers/warehouse';

function modelFile(dir: string, content: string): string {
  const f = join(dir, `model-${content}.json`);
  writeFileSync(f, JSON.stringify({ content }));
  return f;
}

const info = (auc: number, cutoff = '2024-01-01T00:00:00.000Z') => ({
  engine: 'forest',
  primaryMetric: 'roc_auc',
  metrics: { holdout: { roc_auc: auc } },
  lineage: { cutoff },
  params: {},
  featureNames: ['a'],
});

/** The standing champion as the publish activity would compute it: re-scored on the same rows with `value`. */
const vs = (reg: ModelRegistry, value: number | null): ChampionStanding => {
  const c = reg.champion();
  return !c || value == null ? { kind: 'none' } : { kind: 'same-rows', version: c.version, value };
};

describe('champion gate', () => {
  it('promotes within tolerance, keeps a worse model as challenger, respects the metric direction', () => {
    const same = (metric: string, challenger: number, value: number) =>
      gate({ metric, challenger, champion: { kind: 'same-rows', version: 'v0001-r', value }, tolerance: 0.01 });
    assert.equal(
      gate({ metric: 'roc_auc', challenger: 0.8, champion: { kind: 'none' }, tolerance: 0 }).decision,
      'first',
    );
    assert.equal(same('roc_auc', 0.795, 0.8).decision, 'promoted');
    const worse = same('roc_auc', 0.78, 0.8);
    assert.equal(worse.decision, 'challenger');
    assert.match(worse.reason, /worse by 0\.0200/);
    assert.equal(same('log_loss', 0.3, 0.25).decision, 'challenger', 'higher log loss is worse');
    assert.equal(same('log_loss', 0.2, 0.25).decision, 'promoted');
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
      cutoff: '2024-01-01T00:00:00.000Z',
      champion: { kind: 'none' },
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
      cutoff: '2024-01-01T00:00:00.000Z',
      champion: vs(reg, 0.8),
      tolerance: 0.01,
    });
    assert.equal(b.decision, 'challenger');
    assert.equal(reg.champion()!.version, 'v0001-r1');
    const c = await reg.publish({
      runId: 'r3',
      files: [{ name: 'model.json', from: modelFile(src, 'c') }],
      info: info(0.85),
      primaryValue: 0.85,
      cutoff: '2024-01-01T00:00:00.000Z',
      champion: vs(reg, 0.8),
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
      cutoff: '2024-01-01T00:00:00.000Z',
      champion: { kind: 'none' },
      tolerance: 0,
    });
    const two = await reg.publish({
      runId: 'r1',
      files: [{ name: 'model.json', from: f }],
      info: info(0.8),
      primaryValue: 0.8,
      cutoff: '2024-01-01T00:00:00.000Z',
      champion: { kind: 'none' },
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
      cutoff: '2024-01-01T00:00:00.000Z',
      champion: { kind: 'none' },
      tolerance: 0,
    });
    await assert.rejects(
      reg.publish({
        runId: 'r2',
        files: [{ name: 'model.json', from: modelFile(src, 'b') }],
        info: info(0.9),
        primaryValue: 0.9,
        cutoff: '2024-01-01T00:00:00.000Z',
        champion: vs(reg, 0.8),
        tolerance: 0,
        crashBeforeChampion: true,
      }),
      /injected crash/,
    );
    assert.equal(reg.champion()!.version, 'v0001-r1');
    assert.deepEqual(reg.verify('v0001'), []);
    assert.ok(!existsSync(join(reg.root, '.lock')), 'the lock is released');
    assert.ok(!readdirSync(reg.root).some((n) => n.startsWith('.tmp-')), 'no half-built version folder is left');
    // The retry finds the version folder without a decision and runs the gate (it used to answer "already
    // published" as a challenger and leave the better model behind).
    const retry = await reg.publish({
      runId: 'r2',
      files: [{ name: 'model.json', from: join(src, 'model-b.json') }],
      info: info(0.9),
      primaryValue: 0.9,
      cutoff: '2024-01-01T00:00:00.000Z',
      champion: vs(reg, 0.8),
      tolerance: 0,
    });
    assert.equal(retry.version, 'v0002-r2');
    assert.equal(retry.decision, 'promoted');
    assert.equal(reg.champion()!.version, 'v0002-r2');
    assert.equal(reg.versions().length, 2, 'the retry reused the version folder');
    // A further retry returns the recorded decision and moves nothing.
    const again = await reg.publish({
      runId: 'r2',
      files: [{ name: 'model.json', from: join(src, 'model-b.json') }],
      info: info(0.9),
      primaryValue: 0.9,
      cutoff: '2024-01-01T00:00:00.000Z',
      champion: { kind: 'same-rows', version: 'v0002-r2', value: 0.9 },
      tolerance: 0,
    });
    assert.equal(again.decision, 'promoted');
    assert.match(again.reason, /decided by an earlier attempt/);
    assert.equal(reg.history().length, 2, 'one history line per move');
  });

  it('concurrent publishes get distinct versions and one consistent champion', async () => {
    const root = tempDir('fc-reg-');
    const src = tempDir();
    // As the publish activity does: compare with the champion read before the lock, and compare again (retry)
    // when another publish moved the pointer meanwhile.
    const publishOne = async (i: number): Promise<{ version: string }> => {
      const reg = new ModelRegistry(root);
      for (;;) {
        try {
          return await reg.publish({
            runId: `r${i}`,
            files: [{ name: 'model.json', from: modelFile(src, `m${i}`) }],
            info: info(0.7 + i / 100),
            primaryValue: 0.7 + i / 100,
            cutoff: '2024-01-01T00:00:00.000Z',
            champion: vs(reg, 0.7),
            tolerance: 0.5,
          });
        } catch (e) {
          assert.match((e as Error).message, /champion changed while this run compared/);
        }
      }
    };
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => publishOne(i)));
    const versions = results.map((r) => r.version.slice(0, 5)).sort();
    assert.deepEqual(versions, ['v0001', 'v0002', 'v0003', 'v0004', 'v0005', 'v0006', 'v0007', 'v0008']);
    const reg = new ModelRegistry(root);
    assert.ok(reg.versions().includes(reg.champion()!.version));
    for (const v of reg.versions()) assert.deepEqual(reg.verify(v), []);
    assert.equal(reg.versions().filter((v) => reg.decision(v)).length, 8, 'every version has its decision');
  });
});
