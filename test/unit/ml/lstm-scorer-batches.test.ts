/**
 * Scoring passes every batch of users the same sequences of all users (activities/score.ts: 50,000 users a batch).
 * The LSTM scorer remapped all of them into the model's vocabulary and indexed all their ids for every batch,
 * twice (predict and explain): at 10 M events, 4.3 M users' tokens and ids 170 times over, which made the blend's
 * scoring step the longest of the run. Now once per sequences object, with the same scores.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstmToSerialized, remapTokens, trainLstm, type Sequences } from '../../../ml/lstm';
import { loadScorer } from '../../../ml/scorer';
import { mulberry32 } from '../../../ml/random';
import { lstmParams } from '../../../pipelines/schema/model';
import { tempDir } from '../../helpers/warehouse';

const T = 8;
function sequences(n: number): Sequences {
  const rng = mulberry32(3);
  const tokens = new Int32Array(n * T);
  const numeric = new Float32Array(n * T * 2);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = rng() < 0.3 ? 1 : 0;
    for (let t = T - 1 - Math.floor(rng() * (T - 1)); t < T; t++) {
      tokens[i * T + t] = labels[i] && rng() < 0.5 ? 2 : 1;
      numeric[(i * T + t) * 2] = rng();
    }
  }
  return { ids: Array.from({ length: n }, (_, i) => `u${i}`), labels, tokens, numeric, length: T };
}

describe('LSTM scorer in batches', { timeout: 120_000 }, () => {
  it('remaps and indexes the users’ sequences once per scoring, not once per batch', async () => {
    const s = sequences(400);
    const params = lstmParams.parse({ units: 4, embeddingDim: 2, epochs: 1, batchSize: 64 });
    const r = await trainLstm({ sequences: s, vocabSize: 2, outDir: tempDir('fc-lstm-batches-'), params, seed: 1 });
    const vocab = { view: 1, cart: 2 };
    const scorer = await loadScorer(JSON.parse(JSON.stringify(lstmToSerialized(r.modelDir, vocab))));
    const whole = scorer.predict({
      x: { nRows: 0, names: [], columns: [] },
      ids: s.ids,
      sequences: { data: s, vocab },
    });
    // The same sequences in a vocabulary with the ids swapped, so the scorer remaps them (a copy of all users'
    // tokens); every such pass reads their ids once (remapTokens copies the object's fields).
    const swapped = { ...s, tokens: s.tokens.map((t) => (t ? 3 - t : 0)) };
    let passes = 0;
    const data = new Proxy(swapped, { get: (o, k) => (k === 'ids' && passes++, Reflect.get(o, k)) });
    const given = { data, vocab: { view: 2, cart: 1 } };
    const batched = new Float64Array(s.ids.length);
    for (let b = 0; b < s.ids.length; b += 100) {
      const ids = s.ids.slice(b, b + 100);
      const d = { x: { nRows: ids.length, names: [], columns: [] }, ids, sequences: given };
      batched.set(scorer.predict(d), b);
      assert.equal(scorer.explain!(d, 3).names.length, ids.length);
    }
    scorer.dispose();
    assert.equal(passes, 1, `all users' sequences were remapped ${passes} times for 4 batches`);
    whole.forEach((p, i) => assert.ok(Math.abs(p - batched[i]) < 1e-6, `user ${i}: ${p} vs ${batched[i]}`));
  });
});

describe('remapTokens', () => {
  it('gives the sequences themselves when the vocabularies agree, not a copy of every token', () => {
    const s = sequences(10);
    assert.equal(remapTokens(s, { view: 1, cart: 2 }, { view: 1, cart: 2 }), s);
    assert.equal(remapTokens(s, { view: 1, cart: 2 }, { view: 1, cart: 2, buy: 3 }), s, 'a type the data lacks');
    // Another id for a name, or a token the data's vocabulary does not name, still makes a remapped copy.
    const swapped = remapTokens(s, { view: 1, cart: 2 }, { view: 2, cart: 1 });
    assert.notEqual(swapped.tokens, s.tokens);
    assert.deepEqual(
      [...swapped.tokens].map((t) => (t ? 3 - t : 0)),
      [...s.tokens],
    );
    const unnamed = remapTokens(s, { view: 1 }, { view: 1, cart: 2 });
    assert.deepEqual(
      [...unnamed.tokens],
      [...s.tokens].map((t) => (t === 1 ? 1 : 0)),
    );
  });
});
