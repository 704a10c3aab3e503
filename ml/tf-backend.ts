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
