import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FeatureMatrix } from '../../../ml/classifier';
import { repeatRows, selectLabels, selectRows } from '../../../ml/classifier';
import { RandomForest } from '../../../ml/forest';
import { LogisticRegression } from '../../../ml/logistic';
import { createClassifier, deserializeClassifier } from '../../../ml/engines';
import { holdoutSplit, stratifiedKFold, timeSplits } from '../../../ml/cv';
import { rocAuc } from '../../../ml/metrics';
import { mulberry32, normal } from '../../../ml/random';

/** y depends on x0 and x1 (interaction) plus noise; x2..x5 are noise; x1 has 10 % missing values. */
function synthetic(n: number, seed: number): { x: FeatureMatrix; y: Uint8Array } {
  const rng = mulberry32(seed);
  const cols = Array.from({ length: 6 }, () => new Float32Array(n));
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    for (const c of cols) c[i] = normal(rng);
    const logit = 1.5 * cols[0][i] + (cols[1][i] > 0.5 ? 1.2 : -0.4) * (cols[0][i] > 0 ? 1 : 0.3) - 1.2;
    y[i] = rng() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
    if (rng() < 0.1) cols[1][i] = NaN;
  }
  return { x: { nRows: n, names: cols.map((_, j) => `x${j}`), columns: cols }, y };
}

describe('random forest', () => {
  it('finds the one split that separates a tiny data set', async () => {
    const x: FeatureMatrix = {
      nRows: 8,
      names: ['noise', 'signal'],
      columns: [Float32Array.from([5, 1, 4, 2, 8, 3, 7, 6]), Float32Array.from([1, 2, 3, 4, 10, 11, 12, 13])],
    };
    const y = Uint8Array.from([0, 0, 0, 0, 1, 1, 1, 1]);
    const f = new RandomForest(
      { nTrees: 1, bootstrap: false, maxFeatures: 2, minSamplesLeaf: 1, minSamplesSplit: 2 },
      1,
    );
    await f.fit(x, y);
    const t = f.trees[0];
    assert.equal(t.feature[0], 1, 'the root splits on the signal column');
    assert.ok(t.threshold[0] >= 4 && t.threshold[0] < 10, `threshold ${t.threshold[0]} between 4 and 10`);
    assert.deepEqual(Array.from(f.predictUncalibrated(x)), [0, 0, 0, 0, 1, 1, 1, 1]);
  });

  it('is deterministic for a seed, on one thread or several', async () => {
    // 6,000 rows × 40 trees is above the size at which the forest hands trees to worker threads.
    const { x, y } = synthetic(6000, 3);
    const a = new RandomForest({ nTrees: 40 }, 7, 1);
    const b = new RandomForest({ nTrees: 40 }, 7, 3);
    await a.fit(x, y);
    await b.fit(x, y);
    assert.equal(a.workerThreadsUsed, 0, 'one thread: every tree grown on this thread');
    assert.equal(b.workerThreadsUsed, 3, 'several: trees grown by three worker threads');
    assert.deepEqual(JSON.stringify(a.serialize()), JSON.stringify(b.serialize()));
    const c = new RandomForest({ nTrees: 40 }, 8, 2);
    await c.fit(x, y);
    assert.notDeepEqual(JSON.stringify(a.serialize()), JSON.stringify(c.serialize()));
  });

  it('learns the signal, with OOB accuracy close to held-out accuracy', async () => {
    const { x, y } = synthetic(6000, 11);
    const s = holdoutSplit(y, 0.3, 1);
    const f = new RandomForest({ nTrees: 60, maxDepth: 8 }, 5);
    await f.fit(selectRows(x, s.train), selectLabels(y, s.train));
    const p = f.predictProba(selectRows(x, s.test));
    const yt = selectLabels(y, s.test);
    assert.ok(rocAuc(yt, p) > 0.75, `AUC ${rocAuc(yt, p)}`);
    let correct = 0;
    for (let i = 0; i < yt.length; i++) correct += Number((p[i] >= 0.5 ? 1 : 0) === yt[i]);
    assert.ok(
      Math.abs(f.oobScore! - correct / yt.length) < 0.03,
      `OOB ${f.oobScore} vs held-out ${correct / yt.length}`,
    );
  });

  it('ranks informative features above noise', async () => {
    const { x, y } = synthetic(4000, 21);
    const f = new RandomForest({ nTrees: 40 }, 2);
    await f.fit(x, y);
    const imp = f.featureImportances();
    assert.equal(imp[0].name, 'x0');
    const rank = (n: string) => imp.findIndex((i) => i.name === n);
    for (const noise of ['x2', 'x3', 'x4', 'x5']) assert.ok(rank('x1') < rank(noise), `x1 above ${noise}`);
  });

  it('class weights raise the rare class’s votes, but not its published probabilities', async () => {
    const { x, y } = synthetic(3000, 4);
    const plain = new RandomForest({ nTrees: 20, classWeight: 'none' }, 1);
    const balanced = new RandomForest({ nTrees: 20, classWeight: 'balanced' }, 1);
    await plain.fit(x, y);
    await balanced.fit(x, y);
    const mean = (a: Float64Array) => a.reduce((s, v) => s + v, 0) / a.length;
    assert.ok(mean(balanced.predictUncalibrated(x)) > mean(plain.predictUncalibrated(x)) + 0.05);
    // Calibrated on the out-of-bag votes, both publish probabilities whose mean is the observed rate.
    const rate = y.reduce((s, v) => s + v, 0) / y.length;
    for (const f of [plain, balanced])
      assert.ok(Math.abs(mean(f.predictProba(x)) - rate) < 0.02, `mean ${mean(f.predictProba(x))} vs rate ${rate}`);
  });

  it('round-trips through its serialized form with identical scores, and explains rows', async () => {
    const { x, y } = synthetic(2000, 9);
    const f = createClassifier('forest', { nTrees: 15 }, 3);
    await f.fit(x, y);
    const loaded = deserializeClassifier(JSON.parse(JSON.stringify(f.serialize())));
    assert.deepEqual(Array.from(loaded.predictProba(x)), Array.from(f.predictProba(x)));
    const ex = loaded.explain!(selectRows(x, [0, 1, 2]), 3);
    assert.equal(ex.names.length, 3);
    assert.ok(ex.names.every((n) => n.length <= 3 && n.every((name) => x.names.includes(name))));
    assert.throws(() => deserializeClassifier({ ...f.serialize(), formatVersion: 99 }), /format version 99/);
  });

  it('predicts exactly what a plain walk down each tree gives, missing values included, on one thread or several', async () => {
    const { x, y } = synthetic(3000, 12);
    const f = new RandomForest({ nTrees: 40, maxDepth: 9, minSamplesLeaf: 2 }, 4);
    await f.fit(x, y);
    // The reference: one row at a time, straight from the trees' field arrays, as the model file stores them.
    const reference = (m: FeatureMatrix) =>
      Float64Array.from({ length: m.nRows }, (_, i) => {
        let sum = 0;
        for (const t of f.trees) {
          let n = 0;
          while (t.feature[n] >= 0) {
            const v = m.columns[t.feature[n]][i];
            n = (Number.isNaN(v) ? t.missingLeft[n] === 1 : v <= t.threshold[n]) ? t.left[n] : t.right[n];
          }
          sum += t.value[n];
        }
        return sum / f.trees.length;
      });
    const small = selectRows(
      x,
      Array.from({ length: 13 }, (_, i) => i * 7),
    ); // one thread, rows not a multiple of 8
    assert.deepEqual(Array.from(f.predictUncalibrated(small)), Array.from(reference(small)));
    const big = repeatRows(x, 20); // 60,000 rows × 40 trees: shared between threads
    assert.deepEqual(Array.from(f.predictUncalibrated(big)), Array.from(reference(big)));
  });

  it('explains exactly as a plain walk down each tree does, on one thread or several', async () => {
    const { x, y } = synthetic(3000, 14);
    const f = new RandomForest({ nTrees: 30, maxDepth: 8, minSamplesLeaf: 2 }, 6);
    await f.fit(x, y);
    // The reference: one row at a time, every split crediting its feature, all features sorted per row.
    const reference = (m: FeatureMatrix, topK: number) => {
      const names: string[][] = [];
      const values: number[][] = [];
      for (let i = 0; i < m.nRows; i++) {
        const contrib = new Float64Array(m.columns.length);
        for (const t of f.trees) {
          let n = 0;
          while (t.feature[n] >= 0) {
            const v = m.columns[t.feature[n]][i];
            const next = (Number.isNaN(v) ? t.missingLeft[n] === 1 : v <= t.threshold[n]) ? t.left[n] : t.right[n];
            contrib[t.feature[n]] += t.value[next] - t.value[n];
            n = next;
          }
        }
        const order = Array.from(contrib.keys()).sort((a, b) => contrib[b] - contrib[a] || a - b);
        const top = order.slice(0, topK).filter((j) => contrib[j] > 0);
        names.push(top.map((j) => m.names[j]));
        values.push(top.map((j) => contrib[j] / f.trees.length));
      }
      return { names, values };
    };
    const check = (m: FeatureMatrix, topK: number) => {
      const got = f.explain(m, topK);
      const want = reference(m, topK);
      assert.deepEqual(got.names, want.names);
      assert.deepEqual(
        got.values.map((v) => Array.from(v)),
        want.values,
      );
    };
    check(
      selectRows(
        x,
        Array.from({ length: 37 }, (_, i) => i * 11),
      ),
      3,
    ); // one thread, rows not a multiple of 4
    check(selectRows(x, [1, 2, 3]), 10); // more reasons asked than there are features
    const big = repeatRows(x, 10); // 30,000 rows × 30 trees: shared with the helper thread
    check(big, 3);
  });

  it('a helper thread that stops answering costs a delay, never a wrong or missing row', async () => {
    const { Worker } = await import('node:worker_threads');
    const { setPredictionHelpers } = await import('../../../ml/forest/predictor');
    const { x, y } = synthetic(3000, 15);
    const f = new RandomForest({ nTrees: 30, maxDepth: 8 }, 2);
    await f.fit(x, y);
    const big = repeatRows(x, 10);
    const want = f.predictProba(big);
    const wantWhy = f.explain(big, 3);
    // Takes the first block of every batch it gets, then never publishes it (as if stuck or dead).
    const stuck = new Worker(
      `const { parentPort } = require('node:worker_threads');
       parentPort.on('message', (b) => {
         const c = new Int32Array(b.control);
         const k = Atomics.add(c, 0, 1);
         if (k < c.length - 1) Atomics.compareExchange(c, 1 + k, 0, 1);
       });`,
      { eval: true },
    );
    try {
      setPredictionHelpers([stuck]);
      const t = performance.now();
      assert.deepEqual(Array.from(f.predictProba(big)), Array.from(want));
      assert.deepEqual(f.explain(big, 3), wantWhy);
      assert.ok(performance.now() - t >= 500, 'the main thread took the stuck block back after waiting for it');
    } finally {
      setPredictionHelpers(undefined);
      await stuck.terminate();
    }
  });

  it('stops when cancelled', async () => {
    const { x, y } = synthetic(3000, 1);
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(new RandomForest({ nTrees: 50 }, 1, 1).fit(x, y, { signal: ac.signal }), /cancelled/);
  });
});

describe('logistic regression', () => {
  it('recovers the direction of the signal and round-trips', async () => {
    const { x, y } = synthetic(3000, 5);
    const m = new LogisticRegression({ l2: 1 });
    await m.fit(x, y);
    assert.ok(m.coef[1] > 0.5, `coefficient of x0 = ${m.coef[1]}`);
    assert.ok(rocAuc(y, m.predictProba(x)) > 0.75);
    const back = deserializeClassifier(JSON.parse(JSON.stringify(m.serialize())));
    assert.deepEqual(Array.from(back.predictProba(x)), Array.from(m.predictProba(x)));
  });

  it('shrinks coefficients as the L2 penalty grows', async () => {
    const { x, y } = synthetic(1000, 6);
    const weak = new LogisticRegression({ l2: 0.01 });
    const strong = new LogisticRegression({ l2: 1000 });
    await weak.fit(x, y);
    await strong.fit(x, y);
    assert.ok(Math.abs(strong.coef[1]) < Math.abs(weak.coef[1]) / 2);
  });
});

describe('cross-validation splits', () => {
  it('stratified k-fold partitions the rows and keeps the class balance', () => {
    const y = Uint8Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? 1 : 0));
    const folds = stratifiedKFold(y, 5, 1);
    const seen = new Uint8Array(1000);
    for (const f of folds) {
      assert.equal(f.train.length + f.test.length, 1000);
      let pos = 0;
      for (const i of f.test) {
        seen[i]++;
        pos += y[i];
      }
      assert.equal(pos, 20);
    }
    assert.ok(seen.every((s) => s === 1));
    assert.deepEqual(stratifiedKFold(y, 5, 1), folds, 'same seed, same folds');
    assert.throws(() => stratifiedKFold(Uint8Array.from([1, 0, 0, 0]), 3, 1), /fewer than/);
  });

  it('time splits never validate on the past', () => {
    const times = Float64Array.from({ length: 100 }, (_, i) => 1000 - i);
    for (const s of timeSplits(times, 3)) {
      const maxTrain = Math.max(...Array.from(s.train, (i) => times[i]));
      const minTest = Math.min(...Array.from(s.test, (i) => times[i]));
      assert.ok(maxTrain < minTest);
    }
  });
});

describe('holdout by user', () => {
  it('holds out the same users whatever else is in the table, about the asked fraction', async () => {
    const { holdoutByUser } = await import('../../../ml/cv');
    const ids = Array.from({ length: 5000 }, (_, i) => `user-${i}`);
    const a = holdoutByUser(ids, 0.2, 42);
    assert.ok(Math.abs(a.test.length / ids.length - 0.2) < 0.02);
    const shuffled = [...ids].reverse().concat(['newcomer']);
    const b = holdoutByUser(shuffled, 0.2, 42);
    const setA = new Set(Array.from(a.test, (i) => ids[i]));
    const setB = new Set(Array.from(b.test, (i) => shuffled[i]).filter((id) => id !== 'newcomer'));
    assert.deepEqual([...setB].sort(), [...setA].sort());
  });
});

describe('forest checkpoints', () => {
  it('resumes an interrupted fit from its saved trees and ends with the same forest', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { x, y } = synthetic(4000, 13);
    const whole = new RandomForest({ nTrees: 30 }, 4, 1);
    await whole.fit(x, y);
    const dir = join(mkdtempSync(join(tmpdir(), 'fc-ckpt-')), 'ckpt');
    const ac = new AbortController();
    const first = new RandomForest({ nTrees: 30 }, 4, 1);
    await assert.rejects(
      first.fit(x, y, { checkpointDir: dir, signal: ac.signal, onProgress: (p) => p.done >= 12 && ac.abort() }),
      /cancelled/,
    );
    const resumed = new RandomForest({ nTrees: 30 }, 4, 2);
    await resumed.fit(x, y, { checkpointDir: dir });
    assert.ok(resumed.resumedTrees >= 12, `resumed ${resumed.resumedTrees} trees`);
    assert.deepEqual(JSON.stringify(resumed.serialize()), JSON.stringify(whole.serialize()));
    assert.equal(resumed.oobScore, whole.oobScore);
  });
});

describe('permutation importance', () => {
  it('drops the metric for the informative feature and not for noise', async () => {
    const { permutationImportance } = await import('../../../ml/importance');
    const { x, y } = synthetic(3000, 17);
    const f = new RandomForest({ nTrees: 30 }, 1);
    await f.fit(x, y);
    const imp = permutationImportance(f, x, y, { seed: 2 });
    assert.equal(imp[0].name, 'x0');
    assert.ok(imp[0].importance > 0.05);
    for (const noise of imp.filter((i) => ['x3', 'x4', 'x5'].includes(i.name)))
      assert.ok(noise.importance < imp[0].importance / 5, noise.name);
  });
});
