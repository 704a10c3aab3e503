/**
 * Log-loss gradients of the training rows, on the calling thread or a helper (hist-pool.ts): the rows' scores,
 * labels and weights live in SharedArrayBuffers so that a helper computes its piece of the rows in place. Every row's
 * pair is a function of that row alone (V8's Math.exp is the same code on every thread), so any cut of the rows
 * gives the same bits.
 */

/** The per-row state of a fit that helpers read: scores (log-odds), labels, weights. */
export interface RowState {
  score: Float64Array;
  y: Uint8Array;
  weight: Float32Array;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** Scores, labels and weights copied onto SharedArrayBuffers (every score starting at `bias`). */
export function sharedRowState(y: Uint8Array, weight: Float32Array, bias: number): RowState {
  const n = y.length;
  const score = new Float64Array(new SharedArrayBuffer(8 * n)).fill(bias);
  const ys = new Uint8Array(new SharedArrayBuffer(Math.max(1, n)), 0, n);
  const ws = new Float32Array(new SharedArrayBuffer(4 * n));
  ys.set(y);
  ws.set(weight);
  return { score, y: ys, weight: ws };
}

/**
 * Gradient and hessian of the weighted binary log loss w·[log(1 + e^s) − y·s] at each score s: w·(p − y) and
 * w·p(1 − p), p = σ(s) (the hessian kept above 1e-16 so a leaf of confident rows still has a finite value), as
 * pairs: row i's gradient at gh[2i], its hessian at gh[2i + 1] (the histogram kernel loads both at once); rows
 * [from, to).
 */
export function logLossGradients(
  score: Float64Array,
  y: Uint8Array,
  weight: Float32Array,
  gh: Float32Array,
  from = 0,
  to = score.length,
): void {
  for (let i = from; i < to; i++) {
    const pr = sigmoid(score[i]);
    const w = weight[i];
    gh[2 * i] = (pr - y[i]) * w;
    gh[2 * i + 1] = Math.max(pr * (1 - pr), 1e-16) * w;
  }
}
