/**
 * The one place that picks TensorFlow.js's backend (model code imports only @tensorflow/tfjs): the native
 * @tensorflow/tfjs-node when it loads (an optional dependency: its install downloads libtensorflow, which may be
 * impossible), else the WASM backend (SIMD, and threads where the runtime allows), else the pure-JS CPU backend.
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
            detail: `WASM${simd ? ' + SIMD' : ''}${threads ? ' + threads' : ''} (tfjs-node unavailable)`,
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
