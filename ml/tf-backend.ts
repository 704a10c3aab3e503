/**
 * The one place that picks TensorFlow.js's backend (model code imports only @tensorflow/tfjs): the native
 * @tensorflow/tfjs-node when it loads (an optional dependency: its install downloads libtensorflow, which may be
 * impossible; `npm run tfjs-node:build` builds it from PyPI's tensorflow-cpu instead, see docs/tfjs-node.md), else
 * the WASM backend (SIMD, and threads where the runtime allows), else the pure-JS CPU backend.
 * The choice is recorded in every LSTM's metadata and run summary.
 */
import * as tf from '@tensorflow/tfjs';
import { dirname, join } from 'node:path';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export interface BackendChoice {
  backend: BackendName;
  detail: string;
}

let chosen: Promise<BackendChoice> | null = null;

export function selectBackend(): Promise<BackendChoice> {
  chosen ??= (async (): Promise<BackendChoice> => {
    const forced = process.env.FUNNELCAST_TF_BACKEND as BackendName | undefined;
    if (!forced || forced === 'tensorflow') {
      try {
        // Read by libtensorflow when it loads, so set before the require (a value already set wins). oneDNN's
        // kernels cost more per op than they save on the LSTM's many small ops: ~1.5x slower with them on (bench
        // lstm); and INFO lines ("This TensorFlow binary is optimized...") are noise in CLI output.
        process.env.TF_ENABLE_ONEDNN_OPTS ??= '0';
        process.env.TF_CPP_MIN_LOG_LEVEL ??= '1';
        // One intra-op thread: the LSTM's ops (fused kernels included) are too small to gain from splitting, and
        // the second thread's hand-offs cost more (bench lstm: training ~1.3-1.5x faster, prediction ~1.7x, on 2
        // cores) and leave the other core to the worker's other activities.
        process.env.TF_NUM_INTRAOP_THREADS ??= '1';
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        require('@tensorflow/tfjs-node');
        if (await tf.setBackend('tensorflow'))
          return { backend: 'tensorflow', detail: 'native libtensorflow (tfjs-node)' };
      } catch (e) {
        if (forced)
          throw new Error(
            `FUNNELCAST_TF_BACKEND=tensorflow but @tensorflow/tfjs-node does not load: ${(e as Error).message}`,
          );
      }
    }
    if (!forced || forced === 'wasm') {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
        wasm.setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '/'));
        if (await tf.setBackend('wasm')) {
          await tf.ready();
          const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
          const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
          return {
            backend: 'wasm',
            detail: `WASM${simd ? ' + SIMD' : ''}${threads ? ' + threads' : ''}${forced ? '' : ' (tfjs-node unavailable)'}`,
          };
        }
      } catch (e) {
        if (forced)
          throw new Error(`FUNNELCAST_TF_BACKEND=wasm but the WASM backend does not load: ${(e as Error).message}`);
      }
    }
    await tf.setBackend('cpu');
    await tf.ready();
    return { backend: 'cpu', detail: 'pure-JS CPU backend (slowest)' };
  })();
  return chosen;
}

/**
 * TensorFlow's fused LSTM kernels, reached through tfjs-node's raw-op entry point: BlockLSTMV2 runs a whole
 * sequence forward in one native op and BlockLSTMGradV2 its backward pass, where tfjs-layers dispatches dozens of
 * small ops per time step. Gate layout IFCO (= tfjs-layers' i, f, c, o), w = [kernel; recurrentKernel], sigmoid
 * gates, tanh activation, no peephole, no cell clip: exactly tf.layers.lstm with recurrentActivation 'sigmoid'.
 */
export interface FusedLstmKernels {
  /** x [T, B, F], w [F + U, 4U], b [4U] → BlockLSTMV2's 7 outputs (i, cs, f, o, ci, co, h), each [T, B, U]. */
  forward(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, zeros?: ZeroTensors): tf.Tensor[];
  /** Gradients of x, w and b from the forward's inputs and outputs and the gradient of h (cs's gradient 0). */
  backward(
    x: tf.Tensor,
    w: tf.Tensor,
    b: tf.Tensor,
    outs: tf.Tensor[],
    dh: tf.Tensor,
    zeros?: ZeroTensors,
  ): tf.Tensor[];
}

/**
 * Zero tensors by shape, made once and shared by every kernel call that passes them (the kernels take zero initial
 * states, peepholes and cell-state gradient: ~11 tensors a training step otherwise); the owner disposes them.
 */
export class ZeroTensors {
  private readonly made = new Map<string, tf.Tensor>();
  get(shape: number[]): tf.Tensor {
    const key = shape.join('x');
    let z = this.made.get(key);
    if (!z) this.made.set(key, (z = tf.keep(tf.zeros(shape))));
    return z;
  }
  dispose(): void {
    tf.dispose([...this.made.values()]);
    this.made.clear();
  }
}

let fusedKernels: FusedLstmKernels | null | undefined;

/** The fused LSTM kernels when the backend in use is tfjs-node's; null on every other backend. */
export function fusedLstmKernels(): FusedLstmKernels | null {
  if (tf.getBackend() !== 'tensorflow') return null;
  if (fusedKernels !== undefined) return fusedKernels;
  type RawBackend = {
    binding: Record<string, number>;
    executeMultipleOutputs(op: string, attrs: object[], inputs: object[], n: number): tf.Tensor[];
  };
  const be = tf.backend() as unknown as RawBackend;
  if (typeof be.executeMultipleOutputs !== 'function') return (fusedKernels = null);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Int64Scalar } = require('@tensorflow/tfjs-node/dist/int64_tensors') as {
    Int64Scalar: new (v: number) => object;
  };
  const B = be.binding;
  const attrs = [
    { name: 'T', type: B.TF_ATTR_TYPE, value: B.TF_FLOAT },
    { name: 'use_peephole', type: B.TF_ATTR_BOOL, value: false },
  ];
  /** The kernels' inputs: max length, x, zero initial c and h [B, U], w, zero peephole weights [U] (unused: use_peephole is false), b. */
  const inputs = (z: ZeroTensors, x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => {
    const units = (b.shape[0] as number) / 4;
    const state = z.get([x.shape[1] as number, units]);
    const peephole = z.get([units]);
    return [new Int64Scalar(x.shape[0] as number), x, state, state, w, peephole, peephole, peephole, b];
  };
  fusedKernels = {
    forward(x, w, b, shared) {
      const z = shared ?? new ZeroTensors();
      const outs = be.executeMultipleOutputs(
        'BlockLSTMV2',
        [...attrs, { name: 'cell_clip', type: B.TF_ATTR_FLOAT, value: 0 }],
        inputs(z, x, w, b),
        7,
      );
      if (!shared) z.dispose();
      return outs;
    },
    backward(x, w, b, outs, dh, shared) {
      const z = shared ?? new ZeroTensors();
      const g = be.executeMultipleOutputs(
        'BlockLSTMGradV2',
        attrs,
        [...inputs(z, x, w, b), ...outs, z.get(dh.shape), dh],
        8, // gradients of x, cs_prev, h_prev, w, wci, wcf, wco, b
      );
      if (!shared) z.dispose();
      tf.dispose([g[1], g[2], g[4], g[5], g[6]]);
      return [g[0], g[3], g[7]];
    },
  };
  return fusedKernels;
}
