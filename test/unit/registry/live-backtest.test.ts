import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gate, ModelRegistry, type ChampionStanding, type PublishOptions } from '../../../registry';
import { tempDir } from '../../helpers/warehouse';

const day = (d: string) => `2024-${d}T00:00:00.000Z`;

/** Publishes a model with a given AUC at a cutoff; the champion is compared on the same rows unless told otherwise. */
async function publishAt(
  reg: ModelRegistry,
  runId: string,
  auc: number,
  cutoff: string,
  extra: Partial<PublishOptions> & { championAuc?: number } = {},
) {
  const f = join(tempDir(), `${runId}.json`);
  writeFileSync(f, JSON.stringify({ runId }));
  const c = reg.champion();
  const champion: ChampionStanding = c
    ? { kind: 'same-rows', version: c.version, value: extra.championAuc ?? c.value }
    : { kind: 'none' };
  return reg.publish({
    runId,
    files: [{ name: 'model.json', from: f }],
    info: {
      engine: 'forest',
      primaryMetric: 'roc_auc',
      metrics: { holdout: { roc_auc: auc } },
      lineage: { cutoff },
      params: {},
      featureNames: ['a'],
    },
    primaryValue: auc,
    cutoff,
    champion,
    tolerance: 0.01,
    ...extra,
  });
}

describe('live and past are separate', () => {
  it('runs at older cutoffs publish backtests and never move the champion, whatever order they finish in', async () => {
    for (const order of [
      ['03-01', '03-08', '03-15'],
      ['03-15', '03-01', '03-08'],
    ]) {
      const reg = new ModelRegistry(tempDir('fc-reg-'));
      const live = await publishAt(reg, 'live', 0.87, day('04-30'));
      assert.equal(live.decision, 'first');
      assert.equal(live.kind, 'live');
      // Backfill-style runs at older cutoffs, even with better metrics (the bug: v0004 → v0008 → v0011).
      for (const [i, d] of order.entries()) {
        const r = await publishAt(reg, `old${i}`, 0.9 + i / 100, day(d));
        assert.equal(r.kind, 'backtest');
        assert.equal(r.decision, 'backtest');
        assert.match(r.reason, new RegExp(`cutoff ${day(d)} is older than the live champion's ${day('04-30')}`));
        assert.match(r.reason, /as a live run: promoted/, 'the comparison is still recorded');
        assert.equal(reg.champion()!.version, live.version);
      }
      assert.equal(reg.history().length, 1, 'no pointer move besides the first');
      assert.deepEqual(
        reg.versions().map((v) => reg.decision(v)!.kind),
        ['live', 'backtest', 'backtest', 'backtest'],
      );
      await assert.rejects(
        reg.promote(reg.versions()[1]),
        /is a backtest \(cutoff .*\), never serving: it cannot be promoted/,
      );
    }
  });

  it('a backfill run is a backtest even at a newer cutoff or without a champion; a live run at a later cutoff can win', async () => {
    const reg = new ModelRegistry(tempDir('fc-reg-'));
    const b = await publishAt(reg, 'bf', 0.8, day('02-01'), { backtest: 'run by a backfill' });
    assert.equal(b.decision, 'backtest');
    assert.equal(reg.champion(), null, 'a backfill never makes a champion');
    await publishAt(reg, 'live1', 0.8, day('03-01'));
    await publishAt(reg, 'bf2', 0.95, day('05-01'), { backtest: 'run by a backfill' });
    assert.equal(reg.champion()!.version.slice(0, 5), 'v0002');
    const same = await publishAt(reg, 'live-same-cutoff', 0.85, day('03-01'));
    assert.equal(same.decision, 'promoted', 'a live run at the champion cutoff may move it');
    const later = await publishAt(reg, 'live2', 0.9, day('04-01'));
    assert.equal(later.decision, 'promoted');
    assert.equal(reg.champion()!.cutoff, day('04-01'));
    // After a rollback to an older model, the live frontier stays at the latest live cutoff.
    await reg.rollback('alice');
    assert.equal(reg.champion()!.liveCutoff, day('04-01'));
    const between = await publishAt(reg, 'between', 0.99, day('03-15'));
    assert.equal(between.decision, 'backtest');
  });
});

describe('the gate is exact', () => {
  it('no champion, not comparable and same rows are three outcomes with three messages', () => {
    const base = { metric: 'roc_auc', challenger: 0.8, tolerance: 0.01 };
    const first = gate({ ...base, champion: { kind: 'none' } });
    const inc = gate({
      ...base,
      champion: {
        kind: 'incomparable',
        version: 'v0001-x',
        why: 'it was trained on other features',
        recordedValue: 0.6,
      },
    });
    const same = gate({ ...base, champion: { kind: 'same-rows', version: 'v0001-x', value: 0.79 } });
    assert.deepEqual([first.decision, inc.decision, same.decision], ['first', 'incomparable', 'promoted']);
    assert.match(first.reason, /^no champion yet/);
    assert.match(inc.reason, /not comparable on these rows: it was trained on other features/);
    assert.match(inc.reason, /recorded roc_auc 0\.6000 is from other rows/);
    assert.doesNotMatch(inc.reason, /same validation rows/);
    assert.match(same.reason, /on the same validation rows/);
    const forced = gate({
      ...base,
      champion: { kind: 'incomparable', version: 'v1', why: 'x' },
      replaceIncomparable: true,
    });
    assert.equal(forced.decision, 'replaced');
  });

  it('never replaces an incomparable champion automatically; the flag does, and the history says so', async () => {
    const reg = new ModelRegistry(tempDir('fc-reg-'));
    await publishAt(reg, 'a', 0.8, day('03-01'), { by: 'sample-a' });
    const champ = reg.champion()!.version;
    const incomparable: ChampionStanding = { kind: 'incomparable', version: champ, why: 'other features' };
    const kept = await publishAt(reg, 'b', 0.95, day('04-01'), { champion: incomparable });
    assert.equal(kept.decision, 'incomparable');
    assert.equal(reg.champion()!.version, champ);
    const forced = await publishAt(reg, 'c', 0.7, day('04-01'), { champion: incomparable, replaceIncomparable: true });
    assert.equal(forced.decision, 'replaced');
    assert.equal(reg.champion()!.version, forced.version);
    await reg.promote(kept.version, { by: 'bob' });
    await reg.rollback('carol');
    const h = reg.history();
    assert.deepEqual(
      h.map((e) => [e.action, e.version.slice(0, 5), e.previous?.slice(0, 5) ?? null, e.by]),
      [
        ['gate', 'v0001', null, 'sample-a'],
        ['replace-incomparable', 'v0003', 'v0001', 'c'],
        ['promote', 'v0002', 'v0003', 'bob'],
        ['rollback', 'v0003', 'v0002', 'carol'],
      ],
    );
    assert.ok(h.every((e) => e.at && e.reason && e.cutoff && e.metric === 'roc_auc'));
  });

  it('a comparison made against a champion that has since moved is refused (compare again)', async () => {
    const reg = new ModelRegistry(tempDir('fc-reg-'));
    await publishAt(reg, 'a', 0.8, day('03-01'));
    await assert.rejects(publishAt(reg, 'b', 0.9, day('04-01'), { champion: { kind: 'none' } }), /champion changed/);
  });

  it('a crash after the pointer moved but before the decision and history were written is completed by the retry', async () => {
    const reg = new ModelRegistry(tempDir('fc-reg-'));
    await publishAt(reg, 'a', 0.8, day('03-01'));
    await assert.rejects(publishAt(reg, 'b', 0.9, day('04-01'), { crashBeforeChampion: true }), /injected crash/);
    const b = reg.versions()[1];
    // As if the crashed attempt had got as far as the pointer rename.
    writeFileSync(
      join(reg.root, 'champion.json'),
      JSON.stringify({
        version: b,
        metric: 'roc_auc',
        value: 0.9,
        since: 'x',
        reason: 'promoted: …',
        decision: 'promoted',
        cutoff: day('04-01'),
      }),
    );
    const retry = await publishAt(reg, 'b', 0.9, day('04-01'));
    assert.equal(retry.decision, 'promoted');
    assert.equal(reg.decision(b)!.decision, 'promoted');
    assert.deepEqual(
      reg.history().map((h) => h.version),
      [reg.versions()[0], b],
    );
  });

  it('a damaged champion.json names the file; promote repairs it', async () => {
    const reg = new ModelRegistry(tempDir('fc-reg-'));
    const a = await publishAt(reg, 'a', 0.8, day('03-01'));
    writeFileSync(join(reg.root, 'champion.json'), '{"version": "v00');
    assert.throws(() => reg.champion(), new RegExp(`champion pointer ${join(reg.root, 'champion.json')} is damaged`));
    await reg.promote(a.version, { by: 'ops' });
    assert.equal(reg.champion()!.version, a.version);
  });
});
