import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  binShares,
  dataDrift,
  decileEdges,
  DEFAULT_DRIFT,
  driftMessage,
  psi,
  scoreDrift,
  worstLevel,
} from '../../../ml/drift';
import { mulberry32, normal } from '../../../ml/random';

const sample = (n: number, seed: number, shift = 0, scale = 1) => {
  const rng = mulberry32(seed);
  return Float64Array.from({ length: n }, () => shift + scale * normal(rng));
};

describe('drift: population stability index', () => {
  it('matches the formula on hand-made bins', () => {
    // Reference deciles of 0..99 cut at 10, 20, …, 90; the current puts half its values in the first bin.
    const ref = Float64Array.from({ length: 100 }, (_, i) => i);
    const cur = Float64Array.from({ length: 100 }, (_, i) => (i < 50 ? 0 : i));
    const r = psi(ref, cur);
    assert.deepEqual(r.edges, [10, 20, 30, 40, 50, 60, 70, 80, 90, Infinity]);
    // Shares: bin 0 gets 0.5 vs 0.1; bins 1-4 get 0 (→ 1e-4) vs 0.1; bins 5-9 0.1 vs 0.1.
    const e = 0.4 * Math.log(0.5 / 0.1) + 4 * (1e-4 - 0.1) * Math.log(1e-4 / 0.1);
    assert.ok(Math.abs(r.psi - e) < 1e-12, `${r.psi} vs ${e}`);
  });

  it('is about zero for two samples of one distribution and large for a shifted one', () => {
    const ref = sample(20_000, 1);
    assert.ok(psi(ref, sample(20_000, 2)).psi < 0.01);
    assert.ok(psi(ref, sample(20_000, 3, 0.5)).psi > 0.2);
    assert.ok(psi(ref, sample(20_000, 4, 1)).psi > 0.5);
  });

  it('merges tied edges and keeps missing values in a bin of their own', () => {
    const ref = Float64Array.from([0, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
    assert.deepEqual(decileEdges(ref), [0, 1, 2, Infinity]);
    const shares = binShares(Float64Array.from([NaN, -1, 0, 5]), [0, 1, 2, Infinity]);
    assert.deepEqual(shares, [0.25, 0.25, 0, 0.25, 0.25]);
    assert.ok(psi(ref, Float64Array.from([NaN, NaN, 0, 0])).psi > 1, 'values going missing is drift');
  });
});

describe('drift checks with thresholds', () => {
  const reference = { a: sample(5000, 5), b: sample(5000, 6) };
  it('passes unchanged data', () => {
    const checks = dataDrift({
      reference,
      current: { a: sample(5000, 7), b: sample(5000, 8) },
      referenceLabelRate: 0.05,
      currentLabelRate: 0.055,
      referenceRows: 5000,
      currentRows: 5200,
    });
    assert.equal(worstLevel(checks), 'ok');
    assert.equal(driftMessage(checks), 'no drift');
  });

  it('blocks a moved feature, a label rate that tripled and rows that fell by two thirds, naming each', () => {
    const checks = dataDrift({
      reference,
      current: { a: sample(5000, 9, 1), b: sample(5000, 10) },
      referenceLabelRate: 0.05,
      currentLabelRate: 0.16,
      referenceRows: 9000,
      currentRows: 2900,
    });
    assert.equal(worstLevel(checks), 'block');
    const byName = new Map(checks.map((c) => [c.name, c]));
    assert.equal(byName.get('a')!.level, 'block');
    assert.equal(byName.get('b')!.level, 'ok');
    assert.equal(byName.get('label rate')!.level, 'block');
    assert.equal(byName.get('rows')!.level, 'block');
    const msg = driftMessage(checks);
    assert.match(msg, /^blocked: /);
    assert.match(msg, /a PSI \d\.\d{3} \(block\)/);
    assert.match(msg, /label rate ×3\.20/);
    assert.doesNotMatch(msg, /\bb PSI/);
  });

  it('warns between the thresholds, and the definition can move them', () => {
    const cur = sample(5000, 11, 0.3);
    const ref = sample(5000, 12);
    const p = psi(ref, cur).psi;
    assert.ok(p > 0.05 && p < 0.25, `psi ${p}`);
    const t = {
      warnPsi: 0.05,
      blockPsi: 0.5,
      warnLabelRateRatio: 2,
      blockLabelRateRatio: 4,
      warnRowsRatio: 2,
      blockRowsRatio: 4,
    };
    assert.equal(scoreDrift(ref, cur, t).level, 'warn');
    assert.equal(scoreDrift(ref, cur, { ...t, blockPsi: 0.06 }).level, 'block');
  });

  it("the score check before delivery has its own thresholds (scoreWarnPsi / scoreBlockPsi), else the features'", () => {
    const cur = sample(5000, 11, 0.3);
    const ref = sample(5000, 12);
    const t = { ...DEFAULT_DRIFT, warnPsi: 0.05, blockPsi: 0.5 };
    assert.equal(scoreDrift(ref, cur, t).level, 'warn', "no score thresholds: the features' apply");
    assert.equal(scoreDrift(ref, cur, { ...t, scoreBlockPsi: 0.06 }).level, 'block');
    assert.equal(scoreDrift(ref, cur, { ...t, scoreWarnPsi: 5, scoreBlockPsi: 6 }).level, 'ok');
    // The features keep theirs.
    const checks = dataDrift(
      { reference: { a: ref }, current: { a: cur }, referenceRows: 5000, currentRows: 5000 },
      {
        ...t,
        scoreBlockPsi: 0.06,
      },
    );
    assert.equal(checks[0].level, 'warn');
  });
});
