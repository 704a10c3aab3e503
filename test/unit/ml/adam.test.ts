import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Adam } from '../../../ml/lstm/adam';
import { mulberry32, normal } from '../../../ml/random';

/** Seeded parameter and gradient arrays of the given sizes. */
function arrays(sizes: number[], seed: number): Float32Array[] {
  const rng = mulberry32(seed);
  return sizes.map((n) => Float32Array.from({ length: n }, () => normal(rng)));
}

describe('Adam on Float32Arrays (the fused LSTM path)', () => {
  const sizes = [12, 5, 1];

  it("follows tfjs's AdamOptimizer step for step", async () => {
    await tf.setBackend('cpu');
    const ours = arrays(sizes, 1);
    // Copies: a tensor made from a typed array may keep it as its storage, and Adam updates `ours` in place.
    const vars = ours.map((w, j) => tf.variable(tf.tensor1d(Float32Array.from(w)), true, `adam_test_${j}`));
    const theirs = tf.train.adam(0.01);
    const adam = new Adam(sizes, 0.01);
    for (let step = 0; step < 25; step++) {
      const grads = arrays(sizes, 100 + step);
      adam.step(ours, grads);
      theirs.applyGradients(vars.map((v, j) => ({ name: v.name, tensor: tf.tensor1d(grads[j]) })));
    }
    vars.forEach((v, j) => {
      const t = v.dataSync();
      ours[j].forEach((w, k) => assert.ok(Math.abs(w - t[k]) < 1e-6, `weight ${j}[${k}]: ${w} vs ${t[k]}`));
    });
    // The saved state has tfjs's layout: what tfjs's getWeights() holds, entry for entry.
    const saved = adam.save(
      vars.map((v) => v.name),
      vars.map((v) => v.shape),
    );
    const tfState = await theirs.getWeights();
    assert.deepEqual(
      saved.filter((w) => !w.name.startsWith('__')).map((w) => w.name),
      tfState.map((w) => w.name),
    );
    tfState.forEach((w, j) => {
      const d = w.tensor.dataSync();
      saved[j].data.forEach((x, k) => assert.ok(Math.abs(x - d[k]) < 1e-6, `${w.name}[${k}]`));
    });
    theirs.dispose();
    tf.dispose(vars);
  });

  it('resumes from its saved state bit for bit', () => {
    const whole = arrays(sizes, 2);
    const resumed = arrays(sizes, 2);
    const a = new Adam(sizes, 0.005);
    for (let step = 0; step < 10; step++) a.step(whole, arrays(sizes, 200 + step));
    const b = new Adam(sizes, 0.005);
    for (let step = 0; step < 4; step++) b.step(resumed, arrays(sizes, 200 + step));
    const c = new Adam(sizes, 0.005);
    c.restore(JSON.parse(JSON.stringify(b.save(['a', 'b', 'c'], [[12], [5], [1]]))));
    for (let step = 4; step < 10; step++) c.step(resumed, arrays(sizes, 200 + step));
    assert.equal(c.iterations, 10);
    resumed.forEach((w, j) => assert.deepEqual(Array.from(w), Array.from(whole[j])));
  });

  it('refuses a saved state of another shape', () => {
    const a = new Adam([3], 0.01);
    assert.throws(() => new Adam([4], 0.01).restore(a.save(['w'], [[3]])), /w\/m has 3 values, expected 4/);
    assert.throws(() => new Adam([3, 1], 0.01).restore(a.save(['w'], [[3]])), /2 moments, expected 4/);
  });
});
