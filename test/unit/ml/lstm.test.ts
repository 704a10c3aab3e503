import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  batchGradients,
  concatSequences,
  createLstmModel,
  explainSequences,
  loadModel,
  lstmToSerialized,
  predictSequences,
  remapTokens,
  saveModel,
  trainEpoch,
  trainLstm,
  usesFusedKernels,
  withoutClassWeighting,
  type Sequences,
  stratifiedSample,
} from '../../../ml/lstm';
import { loadScorer } from '../../../ml/scorer';
import { selectBackend } from '../../../ml/tf-backend';
import { rocAuc } from '../../../ml/metrics';
import { mulberry32 } from '../../../ml/random';
import { tempDir } from '../../helpers/warehouse';
import { lstmParams } from '../../../pipelines/schema/model';

const T = 12;
/** Converters carted (token 2) in their last 4 events; others mostly view (token 1). */
function synthetic(n: number, seed: number): Sequences {
  const rng = mulberry32(seed);
  const tokens = new Int32Array(n * T);
  const numeric = new Float32Array(n * T * 2);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const len = 3 + Math.floor(rng() * (T - 3));
    const y = rng() < 0.3 ? 1 : 0;
    labels[i] = y;
    for (let t = T - len; t < T; t++) {
      const cart = y ? t >= T - 4 && rng() < 0.6 : rng() < 0.05;
      tokens[i * T + t] = cart ? 2 : 1;
      numeric[(i * T + t) * 2] = rng();
    }
  }
  return { ids: Array.from({ length: n }, (_, i) => `u${i}`), labels, tokens, numeric, length: T };
}

const params = lstmParams.parse({ units: 16, embeddingDim: 4, epochs: 4, batchSize: 128, learningRate: 0.01 });

describe('LSTM', { timeout: 300_000 }, () => {
  it('picks a backend once and says which', async () => {
    const b = await selectBackend();
    assert.ok(['tensorflow', 'wasm', 'cpu'].includes(b.backend));
    assert.equal(tf.getBackend(), b.backend);
    assert.equal(await selectBackend(), b);
  });

  it('learns a sequence pattern, without leaking tensors', async () => {
    await selectBackend();
    const s = synthetic(2000, 1);
    const before = tf.memory().numTensors;
    const r = await trainLstm({
      sequences: s,
      vocabSize: 3,
      outDir: tempDir('fc-lstm-'),
      params,
      seed: 7,
      trainRows: Uint32Array.from({ length: 1600 }, (_, i) => i),
    });
    assert.equal(tf.memory().numTensors, before, 'every tensor made during training was disposed');
    const { model } = await (await import('../../../ml/lstm')).loadLstm(r.modelDir);
    const test = Uint32Array.from({ length: 400 }, (_, i) => 1600 + i);
    const auc = rocAuc(
      Array.from(test, (i) => s.labels[i]),
      predictSequences(model, s, test),
    );
    // Reasons by occlusion: the converters' carts (token 2) are what the model learned, so masking them must be
    // what lowers a confident converter's score most.
    const e = explainSequences(model, s, { view: 1, cart: 2 }, test, 3);
    assert.deepEqual(Array.from(e.scores), Array.from(predictSequences(model, s, test)));
    const confident = Array.from(test.keys()).filter(
      (k) => s.labels[test[k]] === 1 && e.scores[k] > 0.6 && s.tokens.slice(test[k] * T, (test[k] + 1) * T).includes(2),
    );
    assert.ok(confident.length > 20, `${confident.length} confident converters`);
    const cartFirst = confident.filter((k) => e.names[k][0] === 'seq_cart').length;
    assert.ok(cartFirst / confident.length > 0.9, `seq_cart first for ${cartFirst} of ${confident.length}`);
    for (const k of test.keys()) {
      const v = Array.from(e.values[k]);
      assert.ok(
        v.every((x, j) => x > 0 && (j === 0 || x <= v[j - 1])),
        'positive, largest first',
      );
      assert.ok(e.names[k].every((nm) => ['seq_view', 'seq_cart', 'seq_revenue'].includes(nm)));
    }
    model.dispose();
    assert.ok(auc > 0.8, `held-out AUC ${auc}`);
    assert.ok(r.seqPerSecond > 0 && r.bestValAuc > 0.75);
  });

  it('resumes from its checkpoint after an interruption instead of starting over', async () => {
    const s = synthetic(800, 2);
    const out = tempDir('fc-lstm-resume-');
    const ac = new AbortController();
    await assert.rejects(
      trainLstm({
        sequences: s,
        vocabSize: 3,
        outDir: out,
        params: { ...params, epochs: 3 },
        seed: 3,
        signal: ac.signal,
        onEpoch: () => ac.abort(),
      }),
      /cancelled/,
    );
    const r = await trainLstm({ sequences: s, vocabSize: 3, outDir: out, params: { ...params, epochs: 3 }, seed: 3 });
    assert.equal(r.resumedFromEpoch, 1);
    assert.deepEqual(
      r.history.map((h) => h.epoch),
      [1, 2, 3],
    );
    // Same seed, never interrupted: weights, Adam's moments, step and beta powers, and each epoch's batch order are
    // restored, so the resumed run is the same run, bit for bit: same history and same model files.
    const whole = await trainLstm({
      sequences: s,
      vocabSize: 3,
      outDir: tempDir('fc-lstm-whole-'),
      params: { ...params, epochs: 3 },
      seed: 3,
    });
    assert.deepEqual(r.history, whole.history);
    assert.equal(r.bestValAuc, whole.bestValAuc);
    assert.deepEqual(readFileSync(join(r.modelDir, 'weights.bin')), readFileSync(join(whole.modelDir, 'weights.bin')));
  });

  it('lets the event loop run during an epoch (heartbeats and cancellation are not held up)', async () => {
    await selectBackend();
    const m = createLstmModel(params, 3, T, 6);
    // An epoch of one to two seconds on this backend: the fused path runs ~100k of these short sequences a second,
    // tfjs-layers ~4-7k. The epoch yields every 200 ms, so ~600 ms (4k rows, as before) left room for only two or
    // three ticks and the count failed by chance (CI rehearsal: 2 ticks in 607 ms, no stretch over 600 ms).
    const n = usesFusedKernels(m) ? 150_000 : 8_000;
    const s = synthetic(n, 13);
    const gaps: number[] = [];
    let last = performance.now();
    const timer = setInterval(() => {
      gaps.push(performance.now() - last);
      last = performance.now();
    }, 20);
    const started = performance.now();
    const order = Uint32Array.from({ length: n }, (_, i) => i);
    await trainEpoch(m, s, order, 128, { 0: 1, 1: 1 });
    const took = performance.now() - started;
    clearInterval(timer);
    m.optimizer.dispose();
    m.dispose();
    assert.ok(took > 500, `the epoch took ${took.toFixed(0)} ms: too short to tell`);
    assert.ok(gaps.length >= 3, `${gaps.length} timer ticks during ${took.toFixed(0)} ms`);
    assert.ok(Math.max(...gaps) < 600, `longest stretch without the event loop: ${Math.max(...gaps).toFixed(0)} ms`);
  });

  it('saves and loads with identical scores', async () => {
    const s = synthetic(200, 4);
    const m = createLstmModel(params, 3, T, 5);
    const dir = join(tempDir('fc-lstm-save-'), 'm');
    const before = predictSequences(m, s);
    await saveModel(m, dir);
    const loaded = await loadModel(dir);
    assert.deepEqual(Array.from(predictSequences(loaded, s)), Array.from(before));
    m.dispose();
    loaded.dispose();
  });

  it('takes the class weighting out of its probabilities', () => {
    // Balanced weights for 20 % converters: w0 = 0.625, w1 = 2.5, so the network's odds are 4× the real ones.
    const cw = { 0: 0.625, 1: 2.5 };
    assert.ok(Math.abs(withoutClassWeighting(0.5, cw) - 0.2) < 1e-12); // odds 1 → 1/4
    assert.ok(Math.abs(withoutClassWeighting(0.8, cw) - 0.5) < 1e-12); // odds 4 → 1
    assert.equal(withoutClassWeighting(0.8, undefined), 0.8); // a model saved before the weights were recorded
    assert.equal(withoutClassWeighting(1, cw), 1);
    assert.equal(withoutClassWeighting(0, cw), 0);
    const grid = Array.from({ length: 99 }, (_, i) => withoutClassWeighting((i + 1) / 100, cw));
    assert.ok(
      grid.every((p, i) => i === 0 || p > grid[i - 1]),
      'keeps the order (ROC AUC unchanged)',
    );
  });

  it('re-expresses tokens in the model vocabulary and concatenates sequence sets', () => {
    const s: Sequences = {
      ids: ['a'],
      labels: Uint8Array.of(1),
      tokens: Int32Array.of(0, 1, 2, 3),
      numeric: new Float32Array(8),
      length: 4,
    };
    // data: buy=1 cart=2 zoom=3; model: buy=2 cart=1 (zoom unknown → padding)
    const r = remapTokens(s, { buy: 1, cart: 2, zoom: 3 }, { cart: 1, buy: 2 });
    assert.deepEqual(Array.from(r.tokens), [0, 2, 1, 0]);
    const c = concatSequences(s, r);
    assert.deepEqual(c.ids, ['a', 'a']);
    assert.deepEqual(Array.from(c.tokens), [0, 1, 2, 3, 0, 2, 1, 0]);
    assert.equal(c.labels.length, 2);
  });

  it('serializes a trained LSTM into one JSON document that scores identically through loadScorer', async () => {
    const s = synthetic(200, 11);
    const out = tempDir('fc-lstm-json-');
    const r = await trainLstm({ sequences: s, vocabSize: 3, outDir: out, params: { ...params, epochs: 2 }, seed: 5 });
    const direct = await loadModel(r.modelDir);
    // The scorer reports probabilities without the class weighting training used (recorded in the metadata).
    assert.deepEqual(r.classWeight, JSON.parse(readFileSync(join(r.modelDir, 'metadata.json'), 'utf8')).classWeight);
    const expected = predictSequences(direct, s).map((p) => withoutClassWeighting(p, r.classWeight));
    direct.dispose();
    const vocab = { view: 1, cart: 2, buy: 3 };
    const scorer = await loadScorer(JSON.parse(JSON.stringify(lstmToSerialized(r.modelDir, vocab))));
    assert.equal(scorer.needsSequences, true);
    // Asked in another order and through a vocabulary with the same meaning: same scores per user.
    const ids = [...s.ids].reverse();
    const p = scorer.predict({ x: { nRows: ids.length, names: [], columns: [] }, ids, sequences: { data: s, vocab } });
    ids.forEach((id, k) => assert.ok(Math.abs(p[k] - expected[s.ids.indexOf(id)]) < 1e-6, id));
    scorer.dispose();
  });

  it('runs every model on tfjs-layers’ ops when the backend is not tfjs-node', async (t) => {
    const { backend } = await selectBackend();
    if (backend === 'tensorflow') {
      t.skip('tfjs-node is installed: the fused kernels are tested below');
      return;
    }
    const m = createLstmModel(params, 3, T, 9);
    assert.equal(usesFusedKernels(m), false);
    m.dispose();
  });

  it('trains and predicts through the fused kernels on tfjs-node (only there) as the layers model does', async (t) => {
    const { backend } = await selectBackend();
    if (backend !== 'tensorflow') {
      // Nothing to compare: without tfjs-node both paths are tfjs-layers' ops. CI runs this file a second time on
      // tfjs-node, built by scripts/build-tfjs-node.sh.
      t.skip(`tfjs-node is not installed (backend: ${backend}): no fused kernels to compare with tfjs-layers`);
      return;
    }
    // Left padding, plus what else the Masking layer skips: padding inside a sequence (a remapped or occluded
    // event), an unknown token with zero inputs, and a sequence with no event at all.
    const s = synthetic(300, 12);
    for (let i = 0; i < 300; i += 5) s.tokens[i * T + T - 2] = 0;
    for (let i = 1; i < 300; i += 7) s.tokens[i * T + T - 3] = 9;
    s.tokens.fill(0, 3 * T, 4 * T);
    const idx = Uint32Array.from({ length: 300 }, (_, i) => i);
    // A model saved before the token embedding layer (one-hot steps straight into the LSTM) still runs fused.
    const legacy = () => {
      const m = tf.sequential({
        layers: [
          tf.layers.masking({ maskValue: 0, inputShape: [T, 5] }),
          tf.layers.lstm({ units: 4, recurrentActivation: 'sigmoid' }),
          tf.layers.dense({ units: 1, activation: 'sigmoid' }),
        ],
      });
      m.compile({ optimizer: tf.train.adam(0.01), loss: 'binaryCrossentropy' });
      return m;
    };
    for (const make of [1, 2].map((layers) => () => createLstmModel({ ...params, layers }, 3, T, 9)).concat(legacy)) {
      const m = make();
      m.setWeights(m.getWeights().map((w, j) => tf.randomNormal(w.shape, 0, 0.5, 'float32', j))); // not near 0
      const before = tf.memory().numTensors;
      assert.ok(usesFusedKernels(m));
      const viaLayers = predictSequences(m, s, idx, 128, 'layers');
      const fused = predictSequences(m, s, idx, 128);
      viaLayers.forEach((p, i) => assert.ok(Math.abs(p - fused[i]) < 1e-5, `row ${i}: ${p} vs ${fused[i]}`));
      const cw = { 0: 0.7, 1: 1.8 };
      const a = batchGradients(m, s, idx, cw, 'layers');
      const b = batchGradients(m, s, idx, cw);
      assert.ok(Math.abs(a.loss - b.loss) < 1e-5, `loss ${a.loss} vs ${b.loss}`);
      a.grads.forEach((g, j) =>
        g.forEach((v, k) =>
          assert.ok(Math.abs(v - b.grads[j][k]) < 1e-5, `gradient ${j}[${k}]: ${v} vs ${b.grads[j][k]}`),
        ),
      );
      assert.equal(tf.memory().numTensors, before, 'every tensor of the fused path was disposed');
      m.dispose();
    }
    // A model whose gates the kernels do not compute (tfjs's default hardSigmoid) keeps tfjs-layers' ops.
    const hard = tf.sequential({
      layers: [
        tf.layers.masking({ maskValue: 0, inputShape: [T, 5] }),
        tf.layers.lstm({ units: 4 }),
        tf.layers.dense({ units: 1, activation: 'sigmoid' }),
      ],
    });
    assert.equal(usesFusedKernels(hard), false);
    hard.dispose();
  });
});

describe('LSTM training sample', () => {
  it('takes a stratified sample when there are more sequences than maxTrainSequences', async () => {
    const s = synthetic(3000, 4);
    const rows = Uint32Array.from({ length: 3000 }, (_, i) => i);
    const sample = stratifiedSample(rows, s.labels, 1000);
    assert.equal(sample.length, 1000);
    assert.equal(new Set(sample).size, 1000);
    const rate = (r: ArrayLike<number>) => Array.from(r).reduce((n, i) => n + s.labels[i], 0) / r.length;
    assert.ok(Math.abs(rate(sample) - rate(rows)) <= 0.5 / 1000 + 1e-12, `${rate(sample)} vs ${rate(rows)}`);
    assert.equal(stratifiedSample(rows, s.labels, 5000), rows, 'fewer rows than the cap: all of them');
    const r = await trainLstm({
      sequences: s,
      vocabSize: 3,
      outDir: tempDir('fc-lstm-sample-'),
      params: { ...params, epochs: 1, maxTrainSequences: 1000 },
      seed: 2,
      trainRows: Uint32Array.from({ length: 2500 }, (_, i) => i),
    });
    assert.deepEqual(r.sequences, { available: 2500, used: 1000 });
  });
});
