/**
 * Majority-class downsampling with the probabilities corrected back (issue 17: at 10 M events, 4,470 buyers among
 * 2.58 M training users, almost all of every tree's work went into non-buyers).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FeatureMatrix } from '../../../ml/classifier';
import { selectLabels, selectRows } from '../../../ml/classifier';
import { downsampleMajority, majoritySample, oddsShift } from '../../../ml/downsample';
import { LogisticRegression } from '../../../ml/logistic';
import { RandomForest } from '../../../ml/forest';
import { binMatrix } from '../../../ml/forest/binning';
import { holdoutSplit } from '../../../ml/cv';
import { logLoss, rocAuc } from '../../../ml/metrics';
import { mulberry32, normal } from '../../../ml/random';
import { forestParams, logisticParams } from '../../../pipelines/schema/model';

/** 6 features, 2 informative, about 1 % positives. */
function rare(n: number, seed: number): { x: FeatureMatrix; y: Uint8Array } {
  const rng = mulberry32(seed);
  const cols = Array.from({ length: 6 }, () => new Float32Array(n));
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    for (const c of cols) c[i] = normal(rng);
    const logit = -5.6 + 1.4 * cols[0][i] + (cols[1][i] > 0.5 ? 1.2 : 0);
    y[i] = rng() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
  }
  return { x: { nRows: n, names: cols.map((_, j) => `f${j}`), columns: cols }, y };
}

const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0);

describe('majority-class downsampling', () => {
  it('keeps every minority row and ratio × minority majority rows, in row order, by seed', () => {
    const y = Uint8Array.from({ length: 10_000 }, (_, i) => (i % 50 === 7 ? 1 : 0)); // 200 positives
    const rows = Uint32Array.from({ length: 9_000 }, (_, k) => k + 1_000); // 180 positives among them
    const s = downsampleMajority(y, rows, 10, 3)!;
    assert.equal(s.majorityClass, 0);
    assert.equal(s.minority, 180);
    assert.equal(s.majorityAll, 8_820);
    assert.equal(s.majorityKept, 1_800);
    assert.equal(s.rows.length, 1_980);
    assert.equal(sum(Array.from(s.rows, (i) => y[i])), 180, 'every positive of the rows kept');
    assert.ok(
      s.rows.every((r, k) => r >= 1_000 && (k === 0 || r > s.rows[k - 1])),
      'rows of `rows` only, ascending',
    );
    assert.deepEqual(downsampleMajority(y, rows, 10, 3)!.rows, s.rows, 'same seed, same draw');
    assert.notDeepEqual(downsampleMajority(y, rows, 10, 4)!.rows, s.rows, 'another seed, another draw');
    // Positives as the majority: the negatives are all kept.
    const flipped = Uint8Array.from(y, (v) => 1 - v);
    const f = downsampleMajority(flipped, null, 5, 3)!;
    assert.equal(f.majorityClass, 1);
    assert.equal(f.rows.length, 200 + 1_000);
    assert.ok(Math.abs(oddsShift(f) - Math.log(9_800 / 1_000)) < 1e-12, 'positive odds are scaled up');
    assert.equal(downsampleMajority(y, null, 60, 3), null, 'within the ratio: nothing dropped');
  });

  it("'auto' leaves training sets of up to 1 M rows alone and caps larger ones at 100 per minority row", () => {
    assert.equal(forestParams.parse({}).downsampleMajority, 'auto');
    const y = Uint8Array.from({ length: 1_000_000 }, (_, i) => (i % 1000 === 0 ? 1 : 0));
    assert.equal(majoritySample('auto', y, null, 1), null);
    const big = Uint8Array.from({ length: 1_200_000 }, (_, i) => (i % 1000 === 0 ? 1 : 0));
    const s = majoritySample('auto', big, null, 1)!;
    assert.equal(s.rows.length, 1_200 + 120_000);
    assert.equal(majoritySample(null, big, null, 1), null);
  });

  it('trains the forest on the sample and gives probabilities of the whole population', async () => {
    const { x, y } = rare(120_000, 17);
    const split = holdoutSplit(y, 0.3, 2);
    const xt = selectRows(x, split.test);
    const yt = selectLabels(y, split.test);
    const fit = async (downsampleMajority: number | null) => {
      const f = new RandomForest({ nTrees: 30, maxDepth: 8, downsampleMajority }, 5, 2);
      await f.fitBinned(binMatrix(x, 255), x.names, y, split.train);
      return { f, p: f.predictProba(xt) };
    };
    const all = await fit(null);
    const down = await fit(8);
    assert.equal(all.f.trainingSample, null);
    const s = down.f.trainingSample!;
    const positives = sum(Array.from(split.train, (i) => y[i]));
    assert.equal(s.minority, positives);
    assert.equal(s.majorityKept, 8 * positives);
    assert.equal(s.rows, 9 * positives);
    assert.ok(s.majorityKept < s.majorityAll / 5, `kept ${s.majorityKept} of ${s.majorityAll}`);
    // Same ranking quality, and calibrated on the whole population: expected conversions (the sum of the
    // probabilities) match the observed ones, where the sample's own odds would overstate them several times.
    const aucAll = rocAuc(yt, all.p);
    const aucDown = rocAuc(yt, down.p);
    assert.ok(aucDown > aucAll - 0.01, `AUC ${aucDown} downsampled vs ${aucAll} on every row`);
    const observed = sum(yt);
    assert.ok(Math.abs(sum(down.p) / observed - 1) < 0.15, `expected ${sum(down.p)} vs observed ${observed}`);
    assert.ok(logLoss(yt, down.p) < logLoss(yt, all.p) * 1.05, 'log loss as good as on every row');
    const shift = down.f.calibration!.oddsShift!;
    assert.ok(Math.abs(shift - Math.log(s.majorityKept / s.majorityAll)) < 1e-12);
    const uncorrected = new RandomForest({}, 5);
    Object.assign(uncorrected, down.f, { calibration: { ...down.f.calibration!, c: down.f.calibration!.c - shift } });
    assert.ok(sum(uncorrected.predictProba(xt)) > 3 * observed, 'without the shift the sample’s odds show');
    // The model file keeps the correction: a loaded forest predicts the same probabilities.
    const loaded = RandomForest.deserialize(JSON.parse(JSON.stringify(down.f.serialize())));
    assert.deepEqual(loaded.predictProba(xt), down.p);
  });

  it('trains the logistic baseline on the sample too, with its probabilities shifted back to the population', async () => {
    assert.equal(logisticParams.parse({}).downsampleMajority, 'auto', "'auto' by default, as the forest's");
    const { x, y } = rare(120_000, 17);
    const split = holdoutSplit(y, 0.3, 2);
    const xt = selectRows(x, split.test);
    const yt = selectLabels(y, split.test);
    const fit = async (downsampleMajority: number | null) => {
      const m = new LogisticRegression({ downsampleMajority }, 5);
      await m.fit(selectRows(x, split.train), selectLabels(y, split.train));
      return { m, p: m.predictProba(xt) };
    };
    const all = await fit(null);
    const down = await fit(8);
    assert.equal(all.m.trainingSample, null);
    const s = down.m.trainingSample!;
    const positives = sum(Array.from(split.train, (i) => y[i]));
    assert.equal(s.minority, positives);
    assert.equal(s.majorityKept, 8 * positives);
    const shift = down.m.calibration!.oddsShift!;
    assert.ok(Math.abs(shift - Math.log(s.majorityKept / s.majorityAll)) < 1e-12);
    assert.ok(down.m.calibration!.rows === s.rows, 'the calibration is fitted on the rows kept');
    const aucAll = rocAuc(yt, all.p);
    const aucDown = rocAuc(yt, down.p);
    assert.ok(aucDown > aucAll - 0.01, `AUC ${aucDown} downsampled vs ${aucAll} on every row`);
    const observed = sum(yt);
    assert.ok(Math.abs(sum(down.p) / observed - 1) < 0.15, `expected ${sum(down.p)} vs observed ${observed}`);
    const loaded = LogisticRegression.deserialize(JSON.parse(JSON.stringify(down.m.serialize())));
    assert.deepEqual(loaded.predictProba(xt), down.p, 'the model file keeps the correction');
  });
});
