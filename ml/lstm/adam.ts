/**
 * Adam over plain Float32Arrays, for the LSTM's fused training path (ml/lstm/fused.ts). Written by hand because
 * tfjs's Adam spends ~12 tensor ops per weight per step (~60 for the LSTM, ~1.4 ms per batch on tfjs-node, ~15 % of
 * a step) on arrays of a few thousand floats that a JS loop updates in ~20 µs. It follows tfjs's AdamOptimizer step
 * for step (same update, epsilon, float32 state, running beta powers) and saves its state in the same layout as
 * tfjs's getWeights(), so a checkpoint written by either one restores into the other.
 */

/** One saved optimizer entry, as ml/lstm's checkpoint stores it (tfjs's getWeights() order and names). */
export interface SavedOptimizerWeight {
  name: string;
  shape: number[];
  data: number[];
}

export class Adam {
  iterations = 0;
  /** beta1^(t+1) and beta2^(t+1) as float32 running products, as tfjs keeps them (accBeta1, accBeta2). */
  accBeta1: number;
  accBeta2: number;
  readonly m: Float32Array[];
  readonly v: Float32Array[];

  constructor(
    sizes: number[],
    readonly learningRate: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly epsilon = 1e-7,
  ) {
    this.accBeta1 = Math.fround(beta1);
    this.accBeta2 = Math.fround(beta2);
    this.m = sizes.map((n) => new Float32Array(n));
    this.v = sizes.map((n) => new Float32Array(n));
  }

  /** One update of every parameter array in place from its gradient. */
  step(params: Float32Array[], grads: Float32Array[]): void {
    const { beta1, beta2, epsilon, learningRate } = this;
    const f = Math.fround;
    const c1 = f(1 - this.accBeta1);
    const c2 = f(1 - this.accBeta2);
    params.forEach((w, j) => {
      const g = grads[j];
      const m = this.m[j];
      const v = this.v[j];
      for (let k = 0; k < w.length; k++) {
        const gk = g[k];
        m[k] = m[k] * beta1 + gk * (1 - beta1); // stored as float32, as tfjs's moment variables are
        v[k] = v[k] * beta2 + gk * gk * (1 - beta2);
        w[k] -= (learningRate * (m[k] / c1)) / (Math.sqrt(v[k] / c2) + epsilon);
      }
    });
    this.accBeta1 = f(this.accBeta1 * beta1);
    this.accBeta2 = f(this.accBeta2 * beta2);
    this.iterations++;
  }

  /** The state as tfjs's Adam getWeights() lays it out (iter, every first moment, every second moment), plus the beta powers. */
  save(names: string[], shapes: number[][]): SavedOptimizerWeight[] {
    return [
      { name: 'iter', shape: [], data: [this.iterations] },
      ...this.m.map((m, j) => ({ name: `${names[j]}/m`, shape: shapes[j], data: Array.from(m) })),
      ...this.v.map((v, j) => ({ name: `${names[j]}/v`, shape: shapes[j], data: Array.from(v) })),
      { name: '__accBeta1', shape: [], data: [this.accBeta1] },
      { name: '__accBeta2', shape: [], data: [this.accBeta2] },
    ];
  }

  /** Restores what save() (or tfjs's Adam through ml/lstm's checkpoint) wrote; moments are matched by position. */
  restore(saved: SavedOptimizerWeight[]): void {
    const moments = saved.filter((w) => w.name !== 'iter' && !w.name.startsWith('__'));
    const n = this.m.length;
    if (moments.length !== 2 * n)
      throw new Error(`optimizer checkpoint has ${moments.length} moments, expected ${2 * n}`);
    moments.forEach((w, j) => {
      const into = j < n ? this.m[j] : this.v[j - n];
      if (w.data.length !== into.length)
        throw new Error(`optimizer checkpoint entry ${w.name} has ${w.data.length} values, expected ${into.length}`);
      into.set(w.data);
    });
    this.iterations = saved.find((w) => w.name === 'iter')?.data[0] ?? 0;
    // Without saved powers (an older checkpoint), tfjs's own rule: beta^(t + 1).
    this.accBeta1 =
      saved.find((w) => w.name === '__accBeta1')?.data[0] ?? Math.fround(this.beta1 ** (this.iterations + 1));
    this.accBeta2 =
      saved.find((w) => w.name === '__accBeta2')?.data[0] ?? Math.fround(this.beta2 ** (this.iterations + 1));
  }
}
