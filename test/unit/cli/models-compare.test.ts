/**
 * Models compared honestly (real DuckDB, real registry folders): `models compare` only puts metrics side by side on
 * the rows both versions held out at the same training cutoff, and says so when the rows differ; `models show` of
 * several versions; `rollback` walks back through the champions (not toggling) and `--to` picks one; promoting a
 * worse version is refused without `--reason`, and with one it warns and the reason is in `models history`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createClassifier } from '../../../ml/engines';
import { holdoutByUser } from '../../../ml/cv';
import { selectLabels, selectRows } from '../../../ml/classifier';
import { modelsCommand } from '../../../cli/models';
import { runCli } from '../../helpers/cli';
import { ModelRegistry, previousChampion } from '../../../registry';
import { compareOnSameRows } from '../../../registry/compare';
import { paths } from '../../../infra/paths';
import { withDuckDB } from '../../../warehouse/db';
import { writeColumnsToParquet } from '../../../warehouse/parquet';
import { tempDir } from '../../helpers/warehouse';

const run = (args: string[]) => runCli(modelsCommand, [...args, '--pipeline', 'sample']);

/** 200 held-out users u000…u199, every 4th a buyer; `skill` moves the buyers' scores up (0: random-ish). */
function rows(skill: number, offset = 0) {
  const ids = Array.from({ length: 200 }, (_, i) => `u${String(i + offset).padStart(3, '0')}`);
  const y = ids.map((id) => (Number(id.slice(1)) % 4 === 0 ? 1 : 0));
  const p = y.map((v, i) => Math.min(0.99, 0.1 + ((i * 37) % 50) / 100 + v * skill));
  return { ids, y, p };
}

async function publish(reg: ModelRegistry, i: number, r: ReturnType<typeof rows>, trainingCutoff: string) {
  const dir = tempDir('fc-ver-');
  writeFileSync(join(dir, 'model.json'), JSON.stringify({ i }));
  const preds = join(dir, 'holdout-predictions.parquet');
  await withDuckDB(':memory:', (conn) =>
    writeColumnsToParquet(conn, preds, [
      { name: 'user_id', type: 'VARCHAR', values: r.ids },
      { name: 'label', type: 'INTEGER', values: r.y },
      { name: 'score', type: 'DOUBLE', values: r.p },
    ]),
  );
  const champ = reg.champion();
  return reg.publish({
    runId: `sample-r${i}`,
    files: [
      { name: 'model.json', from: join(dir, 'model.json') },
      { name: 'holdout-predictions.parquet', from: preds },
    ],
    info: {
      engine: 'forest',
      primaryMetric: 'roc_auc',
      metrics: { holdout: { roc_auc: 0.5 + i / 100 } },
      lineage: { cutoff: `2024-05-0${i}`, trainingCutoff, holdoutRows: r.ids.length },
      params: {},
      featureNames: ['a'],
    },
    primaryValue: 0.5 + i / 100,
    cutoff: `2024-05-0${i}T00:00:00.000Z`,
    // Every gate promotes (the test moves the pointer by hand afterwards).
    champion: champ ? { kind: 'same-rows', version: champ.version, value: 0 } : { kind: 'none' },
    tolerance: 0,
  });
}

describe('models compare, show, rollback --to, promote --reason', () => {
  it('compareOnSameRows: other training cutoffs or labels are not the same rows; common users are', () => {
    const a = { version: 'a', trainingCutoff: 'T1', ids: ['1', '2', '3', '4'], labels: [1, 0, 1, 0] };
    const b = { ...a, version: 'b', scores: [0.9, 0.1, 0.8, 0.2] };
    const good = compareOnSameRows({ ...a, scores: [0.2, 0.8, 0.9, 0.1] }, b);
    assert.equal(good.sameRows, true);
    assert.equal(good.common, 4);
    assert.equal(good.metrics!.diff.roc_auc, 1 - 0.75);
    assert.match(compareOnSameRows({ ...a, trainingCutoff: 'T0', scores: b.scores }, b).why!, /other cutoffs/);
    assert.match(compareOnSameRows({ ...a, labels: [0, 0, 1, 1], scores: b.scores }, b).why!, /other labels/);
  });

  it('previousChampion skips rollbacks: v4 → v3 → v2 → v1, not v4 ↔ v3', () => {
    const h = (action: string, version: string, previous: string | null) =>
      ({ action, version, previous }) as Parameters<typeof previousChampion>[0][number];
    const history = [h('gate', 'v1', null), h('gate', 'v2', 'v1'), h('gate', 'v3', 'v2'), h('gate', 'v4', 'v3')];
    assert.equal(previousChampion(history, 'v4'), 'v3');
    assert.equal(previousChampion([...history, h('rollback', 'v3', 'v4')], 'v3'), 'v2');
  });

  it('on a registry: compare, show several, rollback walks back, --to, a worse promote needs --reason', async () => {
    process.env.FUNNELCAST_REGISTRY = tempDir('fc-models-');
    const reg = new ModelRegistry(paths.registry('sample'));
    await publish(reg, 1, rows(0.5), '2024-04-01T00:00:00.000Z'); // good
    await publish(reg, 2, rows(0.0), '2024-04-01T00:00:00.000Z'); // worse, same rows
    await publish(reg, 3, rows(0.3, 100), '2024-04-01T00:00:00.000Z'); // half the users in common
    await publish(reg, 4, rows(0.5), '2024-04-15T00:00:00.000Z'); // other training cutoff
    assert.equal(reg.champion()!.version, 'v0004-sample-r4');

    const same = await run(['compare', 'v0001', 'v0002']);
    assert.equal(same.code, 0, same.out);
    assert.match(same.out, /Compared on the same 200 held-out rows/);
    assert.match(same.out, /roc_auc\s+1\.000\s+0\.\d+\s+-0\.\d+/);
    const part = JSON.parse((await run(['compare', 'v0001', 'v0003', '--json'])).out);
    assert.deepEqual([part.sameRows, part.common], [true, 100]);
    const apart = await run(['compare', 'v0001', 'v0004']);
    assert.match(apart.out, /Not compared on the same rows: trained at other cutoffs/);
    assert.match(
      apart.out,
      /v0004-sample-r4: measured on 200 held-out users \(50 positives\) at training cutoff 2024-04-15/,
    );
    assert.doesNotMatch(apart.out, /difference/);

    const shown = await run(['show', 'v0001', 'v0004', '--json']);
    assert.deepEqual(
      JSON.parse(shown.out).map((v: { version: string }) => v.version),
      ['v0001-sample-r1', 'v0004-sample-r4'],
    );

    // Rollback walks back through the champions; --to picks one.
    await run(['rollback']);
    await run(['rollback']);
    assert.equal(reg.champion()!.version, 'v0002-sample-r2', 'v4 → v3 → v2, not back to v4');
    assert.equal((await run(['rollback', '--to', 'v0001', '--reason', 'v2 is worse'])).code, 0);
    assert.equal(reg.champion()!.version, 'v0001-sample-r1');

    const refused = await run(['promote', 'v0002']);
    assert.equal(refused.code, 2);
    assert.equal(reg.champion()!.version, 'v0001-sample-r1', 'a worse model is not promoted without a reason');
    const forced = await run(['promote', 'v0002', '--reason', 'campaign test']);
    assert.equal(forced.code, 0);
    assert.match(forced.out, /Warning: v0002-sample-r2 is worse than the champion v0001-sample-r1 on the same 200/);
    const history = JSON.parse((await run(['history', '--json'])).out).history as { action: string; reason: string }[];
    assert.deepEqual(
      history.slice(-4).map((e) => e.action),
      ['rollback', 'rollback', 'rollback', 'promote'],
    );
    assert.match(history.at(-2)!.reason, /rolled back from v0002-sample-r2: v2 is worse/);
    assert.match(history.at(-1)!.reason, /promoted by hand: campaign test \(although v0002-sample-r2 is worse/);
    delete process.env.FUNNELCAST_REGISTRY;
  });

  it("versions trained at other cutoffs: the older is re-scored on the newer one's held-out rows, side by side", async () => {
    process.env.FUNNELCAST_REGISTRY = tempDir('fc-models-rescore-');
    process.env.FUNNELCAST_HOME = tempDir('fc-models-home-');
    const reg = new ModelRegistry(paths.registry('sample'));
    // 2,000 users; feature a predicts the label, b is noise. Both versions hold out users by the same hash.
    const users = Array.from({ length: 2000 }, (_, i) => `u${String(i).padStart(4, '0')}`);
    const { y, a, b } = (() => {
      let t = 7;
      const r = () => ((t = (Math.imul(t, 1103515245) + 12345) >>> 0), t / 2 ** 32);
      const a = Float32Array.from(users, () => r());
      const b = Float32Array.from(users, () => r());
      return { a, b, y: Uint8Array.from(a, (v) => (r() < v * 0.6 ? 1 : 0)) };
    })();
    const held = holdoutByUser(users, 0.2, 42);
    const x = { nRows: users.length, names: ['a', 'b'], columns: [a, b] };
    const version = async (i: number, trainingCutoff: string, cols: number[]) => {
      const clf = createClassifier('logistic', {}, 42);
      const xs = { ...x, columns: x.columns.map((c, j) => (cols.includes(j) ? c : new Float32Array(c.length))) };
      const train = selectRows(xs, held.train);
      await clf.fit(train, selectLabels(y, held.train));
      const test = selectRows(xs, held.test);
      const dir = tempDir('fc-ver-');
      writeFileSync(join(dir, 'model.json'), JSON.stringify(clf.serialize()));
      const preds = join(dir, 'holdout-predictions.parquet');
      const runId = `sample-r${i}`;
      const table = join(paths.runDir('sample', runId), 'training-features', 'features.parquet');
      mkdirSync(dirname(table), { recursive: true });
      await withDuckDB(':memory:', async (conn) => {
        await writeColumnsToParquet(conn, preds, [
          { name: 'user_id', type: 'VARCHAR', values: Array.from(held.test, (k) => users[k]) },
          { name: 'label', type: 'INTEGER', values: selectLabels(y, held.test) },
          { name: 'score', type: 'DOUBLE', values: clf.predictProba(test) },
        ]);
        await writeColumnsToParquet(conn, table, [
          { name: 'user_id', type: 'VARCHAR', values: users },
          { name: 'label', type: 'INTEGER', values: y },
          { name: 'a', type: 'DOUBLE', values: Float64Array.from(a) },
          { name: 'b', type: 'DOUBLE', values: Float64Array.from(b) },
        ]);
      });
      const champ = reg.champion();
      await reg.publish({
        runId,
        files: [
          { name: 'model.json', from: join(dir, 'model.json') },
          { name: 'holdout-predictions.parquet', from: preds },
        ],
        info: {
          engine: 'logistic',
          primaryMetric: 'roc_auc',
          metrics: { holdout: { roc_auc: 0.5 } },
          lineage: { cutoff: `2024-05-0${i}`, trainingCutoff, holdoutRows: held.test.length },
          params: { holdout: 0.2, seed: 42 },
          featureNames: ['a', 'b'],
        },
        primaryValue: 0.5,
        cutoff: `2024-05-0${i}T00:00:00.000Z`,
        champion: champ ? { kind: 'same-rows', version: champ.version, value: 0 } : { kind: 'none' },
        tolerance: 0,
      });
    };
    await version(1, '2024-03-01T00:00:00.000Z', [1]); // trained on the noise only
    await version(2, '2024-04-01T00:00:00.000Z', [0, 1]); // later, and on the signal
    const c = await run(['compare', 'v0001', 'v0002', '--json']);
    assert.equal(c.code, 0, c.out);
    const j = JSON.parse(c.out);
    assert.equal(j.sameRows, true, j.why);
    assert.equal(j.common, held.test.length);
    assert.match(j.why, /v0001-sample-r1 re-scored on v0002-sample-r2's held-out rows at 2024-04-01/);
    assert.ok(j.metrics.b.roc_auc > 0.7 && j.metrics.a.roc_auc < 0.6, JSON.stringify(j.metrics));
    assert.ok(Math.abs(j.metrics.diff.roc_auc - (j.metrics.b.roc_auc - j.metrics.a.roc_auc)) < 1e-12);
    const human = (await run(['compare', 'v0002', 'v0001'])).out;
    assert.match(human, new RegExp(`Compared on the same ${held.test.length} held-out rows`));
    assert.match(human, /roc_auc\s+0\.\d+\s+0\.\d+\s+-0\.\d+/);
  });
});
