/**
 * `npm run bench -- lstm`: our tfjs LSTM vs a PyTorch CPU LSTM (2 threads) of the same shape, in one run:
 * training throughput on the shape of the issue (T=30, 16 inputs, 32 units, batch 256) on each tfjs backend
 * (native tfjs-node when it loads, WASM, pure-JS CPU); and held-out ROC AUC + throughput on real sequences (the
 * bundled sample, which comes from the data-layer generator, and Online Retail's purchase sequences) on tfjs-node
 * and WASM. PyTorch runs in the bench venv and is skipped with a note when it cannot be installed.
 *
 * A backend is chosen once per process (ml/tf-backend.ts), so every tfjs measurement runs in a child process of
 * this same file with FUNNELCAST_TF_BACKEND set: `node lstm.js <spec.json>` prints one JSON line.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { row, type BenchRow } from '../harness';
import { projectRoot } from '../../infra/root';
import { loadPipeline } from '../../pipelines/load';
import type { LstmParams } from '../../pipelines/schema/model';
import { withDuckDB } from '../../warehouse/db';
import { extractPipeline } from '../../warehouse/extract';
import { buildFeatures, defaultCutoff } from '../../warehouse/features';
import { readSequences, trainLstm, loadLstm, predictSequences } from '../../ml/lstm';
import { selectBackend, type BackendName } from '../../ml/tf-backend';
import { holdoutSplit } from '../../ml/cv';
import { rocAuc } from '../../ml/metrics';

const SHAPE = { T: 30, inputs: 16, units: 32, batch: 256, n: 4096, epochs: 2 };

type ChildSpec =
  | { mode: 'throughput' }
  /** Prototype, tfjs-node only: the same LSTM as TF's fused BlockLSTMV2 / BlockLSTMGradV2 kernels. */
  | { mode: 'fused-throughput' }
  | {
      mode: 'train';
      sequencesPath: string;
      vocab: number;
      train: number[];
      test: number[];
      outDir: string;
      params: LstmParams;
    };
type ChildResult = {
  backend: BackendName;
  detail: string;
  seqPerSecond: number;
  auc?: number;
  epochs?: number;
  bestEpoch?: number;
};

function torchPython(): string | null {
  const r = spawnSync(
    'bash',
    [join(projectRoot(), 'bench', 'python', 'ensure-venv.sh'), 'torch', 'scikit-learn', 'pyarrow'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) return null;
  const py = r.stdout.trim().split('\n').at(-1)!;
  return spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0 ? py : null;
}

function specFile(name: string, spec: object): string {
  const dir = join(projectRoot(), 'bench', '.cache');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `lstm-${name}-${process.pid}-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(spec));
  return file;
}

function runPy(py: string, spec: object): Record<string, number> | null {
  const r = spawnSync(py, [join(projectRoot(), 'bench', 'python', 'lstm_torch.py'), specFile('torch', spec)], {
    encoding: 'utf8',
    maxBuffer: 1 << 22,
  });
  return r.status === 0 ? JSON.parse(r.stdout.trim().split('\n').at(-1)!) : null;
}

/** Runs one tfjs measurement in a child process on `backend`; the error text (last stderr line) on failure. */
function child(backend: BackendName, spec: ChildSpec): ChildResult | { error: string } {
  const r = spawnSync(process.execPath, [__filename, specFile(`${backend}-${spec.mode}`, spec)], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
    env: {
      ...process.env,
      FUNNELCAST_TF_BACKEND: backend,
      TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2',
    },
  });
  if (r.status !== 0) {
    const lines = `${r.stderr ?? ''}${r.error?.message ?? ''}`.trim().split('\n');
    return { error: lines.find((l) => /Error/.test(l)) ?? lines.at(-1) ?? `exit ${r.status}` };
  }
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as ChildResult;
}

async function tfjsThroughput(): Promise<number> {
  const model = tf.sequential();
  model.add(tf.layers.lstm({ units: SHAPE.units, inputShape: [SHAPE.T, SHAPE.inputs] }));
  model.add(tf.layers.dense({ units: 1, activation: 'sigmoid' }));
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'binaryCrossentropy' });
  const x = tf.randomNormal([SHAPE.n, SHAPE.T, SHAPE.inputs], 0, 1, 'float32', 1);
  const y = tf.randomUniform([SHAPE.n, 1], 0, 1, 'float32', 2).round();
  await model.fit(x.slice(0, SHAPE.batch), y.slice(0, SHAPE.batch), { batchSize: SHAPE.batch, epochs: 1, verbose: 0 });
  const t = performance.now();
  await model.fit(x, y, { batchSize: SHAPE.batch, epochs: SHAPE.epochs, verbose: 0 });
  const sps = (SHAPE.n * SHAPE.epochs) / ((performance.now() - t) / 1000);
  tf.dispose([x, y]);
  model.optimizer.dispose();
  model.dispose();
  return sps;
}

/**
 * What the tensorflow backend can do when the LSTM is one native kernel per direction instead of tfjs-layers'
 * ~40 small ops per time step: TF's BlockLSTMV2 (forward over all steps) and BlockLSTMGradV2 (backward), reached
 * through tfjs-node's raw-op entry point, wrapped in tf.customGrad; dense head, loss and Adam stay tfjs. Same
 * maths as tf.layers.lstm with recurrentActivation 'sigmoid' (IFCO gate layout, kernel = [kernel;
 * recurrentKernel]): forward and gradients agree to ~1e-7. Not the product's model (ml/lstm does not use it).
 */
async function fusedThroughput(): Promise<number> {
  type RawBackend = {
    binding: Record<string, number>;
    executeMultipleOutputs(op: string, attrs: object[], inputs: object[], n: number): tf.Tensor[];
  };
  const be = tf.backend() as unknown as RawBackend;
  const B = be.binding;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Int64Scalar } = require('@tensorflow/tfjs-node/dist/int64_tensors') as {
    Int64Scalar: new (v: number) => object;
  };
  const attrs = [
    { name: 'T', type: B.TF_ATTR_TYPE, value: B.TF_FLOAT },
    { name: 'use_peephole', type: B.TF_ATTR_BOOL, value: false },
  ];
  const { T, inputs: F, units: U, batch } = SHAPE;
  /** x [T, B, F] time-major → h at the last step [B, U]. */
  const fused = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const Bn = x.shape[1] as number;
    const zeros = () => [tf.zeros([Bn, U]), tf.zeros([Bn, U]), tf.zeros([U]), tf.zeros([U]), tf.zeros([U])];
    const [c0, h0, p0, p1, p2] = zeros();
    const outs = be.executeMultipleOutputs(
      'BlockLSTMV2',
      [...attrs, { name: 'cell_clip', type: B.TF_ATTR_FLOAT, value: 0 }],
      [new Int64Scalar(T), x, c0, h0, w, p0, p1, p2, b],
      7, // i, cs, f, o, ci, co, h: each [T, B, U]
    );
    save([x, w, b, ...outs]);
    return {
      value: outs[6].slice([T - 1, 0, 0], [1, Bn, U]).reshape([Bn, U]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw, sb, ...gates] = saved;
        const [gc0, gh0, g0, g1, g2] = zeros();
        const hGrad = tf.concat([tf.zeros([T - 1, Bn, U]), dy.reshape([1, Bn, U])], 0);
        const g = be.executeMultipleOutputs(
          'BlockLSTMGradV2',
          attrs,
          [new Int64Scalar(T), sx, gc0, gh0, sw, g0, g1, g2, sb, ...gates, tf.zeros([T, Bn, U]), hGrad],
          8, // x, cs_prev, h_prev, w, wci, wcf, wco, b gradients
        );
        return [g[0], g[3], g[7]];
      },
    };
  };
  const lstmLast = tf.customGrad(fused as unknown as Parameters<typeof tf.customGrad>[0]);
  const W = tf.variable(tf.randomUniform([F + U, 4 * U], -0.1, 0.1, 'float32', 3));
  const bias = tf.variable(tf.zeros([4 * U]));
  const Wd = tf.variable(tf.randomUniform([U, 1], -0.1, 0.1, 'float32', 4));
  const bd = tf.variable(tf.zeros([1]));
  const opt = tf.train.adam(1e-3);
  const x = tf.randomNormal([SHAPE.n, T, F], 0, 1, 'float32', 1);
  const y = tf.randomUniform([SHAPE.n, 1], 0, 1, 'float32', 2).round();
  const step = (s: number) =>
    tf.tidy(() => {
      const xb = x.slice(s, batch).transpose([1, 0, 2]);
      const yb = y.slice(s, batch);
      opt.minimize(() => tf.losses.sigmoidCrossEntropy(yb, lstmLast(xb, W, bias).matMul(Wd).add(bd)) as tf.Scalar);
    });
  step(0);
  const t = performance.now();
  for (let e = 0; e < SHAPE.epochs; e++) for (let s = 0; s < SHAPE.n; s += batch) step(s);
  await W.data(); // wait for the last update
  const sps = (SHAPE.n * SHAPE.epochs) / ((performance.now() - t) / 1000);
  tf.dispose([x, y, W, bias, Wd, bd]);
  opt.dispose();
  return sps;
}

async function childMain(file: string): Promise<void> {
  const spec = JSON.parse(readFileSync(file, 'utf8')) as ChildSpec;
  const { backend, detail } = await selectBackend();
  let out: ChildResult;
  if (spec.mode === 'throughput') out = { backend, detail, seqPerSecond: await tfjsThroughput() };
  else if (spec.mode === 'fused-throughput') {
    if (backend !== 'tensorflow') throw new Error('the fused prototype needs the tensorflow backend');
    out = { backend, detail, seqPerSecond: await fusedThroughput() };
  } else {
    const seqs = await withDuckDB(':memory:', (conn) => readSequences(conn, spec.sequencesPath));
    const r = await trainLstm({
      sequences: seqs,
      vocabSize: spec.vocab,
      outDir: spec.outDir,
      params: spec.params,
      seed: 1,
      trainRows: Uint32Array.from(spec.train),
    });
    const { model } = await loadLstm(r.modelDir);
    const test = Uint32Array.from(spec.test);
    const auc = rocAuc(
      Array.from(test, (i) => seqs.labels[i]),
      predictSequences(model, seqs, test),
    );
    model.dispose();
    out = { backend, detail, seqPerSecond: r.seqPerSecond, auc, epochs: r.epochs, bestEpoch: r.bestEpoch };
  }
  console.log(JSON.stringify(out));
}

export async function run(): Promise<{ rows: BenchRow[]; notes: string[] }> {
  const notes: string[] = [];
  const rows: BenchRow[] = [];
  const py = torchPython();
  if (!py) notes.push('PyTorch could not be installed or imported in bench/.venv: reference columns are empty.');
  const ref = py ? runPy(py, { mode: 'throughput', ...SHAPE }) : null;
  const refName = `PyTorch ${ref?.torch ?? ''} CPU, 2 threads`;
  const shape = `random, T=${SHAPE.T}, ${SHAPE.inputs} inputs, ${SHAPE.units} units, batch ${SHAPE.batch}`;

  // tfjs-node is optional (see docs/tfjs-node.md): a backend that does not load is noted, not an error.
  const backends: BackendName[] = [];
  for (const b of ['tensorflow', 'wasm', 'cpu'] as const) {
    const r = child(b, { mode: 'throughput' });
    if ('error' in r) {
      notes.push(
        b === 'tensorflow'
          ? `tfjs-node (native libtensorflow) does not load, its rows are left out (\`npm run tfjs-node:build\` builds it): ${r.error}`
          : `${b} backend failed: ${r.error}`,
      );
      continue;
    }
    if (b !== 'cpu') backends.push(b);
    rows.push(
      row({
        name: `lstm train (${r.detail})`,
        dataset: shape,
        metric: 'sequences/s',
        ours: r.seqPerSecond,
        reference: ref?.seq_per_s ?? null,
        referenceName: refName,
        better: 'higher',
      }),
    );
    if (b === 'tensorflow') {
      const f = child(b, { mode: 'fused-throughput' });
      if ('error' in f) notes.push(`fused BlockLSTMV2 prototype failed: ${f.error}`);
      else
        rows.push(
          row({
            name: 'lstm train (prototype: fused BlockLSTMV2 kernels via tfjs-node)',
            dataset: shape,
            metric: 'sequences/s',
            ours: f.seqPerSecond,
            reference: ref?.seq_per_s ?? null,
            referenceName: refName,
            better: 'higher',
            note: 'not the product LSTM: what one native kernel per direction would give (sigmoid gates)',
          }),
        );
    }
  }

  const params = { units: 32, layers: 1, embeddingDim: 8, epochs: 8, batchSize: 256, learningRate: 0.005, patience: 3 };
  for (const name of ['sample', 'online_retail']) {
    if (name !== 'sample' && !existsSync(join(projectRoot(), '..', 'shared', 'datasets'))) continue;
    const loaded = loadPipeline(name);
    const out = join(projectRoot(), 'bench', '.cache', `lstm-${name}`);
    mkdirSync(out, { recursive: true });
    const f = await withDuckDB(':memory:', async (conn) => {
      await extractPipeline(conn, loaded);
      const feats = await buildFeatures(conn, loaded.definition, {
        cutoff: await defaultCutoff(conn, loaded.definition),
        outDir: out,
      });
      return { feats, seqs: await readSequences(conn, feats.sequencesPath) };
    });
    const vocab = Object.keys(JSON.parse(readFileSync(f.feats.vocabPath, 'utf8'))).length;
    const split = holdoutSplit(f.seqs.labels, 0.25, 1);
    const ds = `${name} sequences (${f.seqs.ids.length} users, T=${f.seqs.length}, ${vocab + 2} inputs)`;
    // PyTorch trains as many epochs as we did (early stopping may differ between backends): one run per count.
    const torchByEpochs = new Map<number, Record<string, number> | null>();
    for (const b of backends) {
      const r = child(b, {
        mode: 'train',
        sequencesPath: f.feats.sequencesPath,
        vocab,
        train: Array.from(split.train),
        test: Array.from(split.test),
        outDir: join(out, `model-${b}`),
        params,
      });
      if ('error' in r) {
        notes.push(`${name} on ${b}: ${r.error}`);
        continue;
      }
      const epochs = r.epochs!;
      if (py && !torchByEpochs.has(epochs))
        torchByEpochs.set(
          epochs,
          runPy(py, {
            mode: 'auc',
            file: f.feats.sequencesPath,
            vocab,
            train: Array.from(split.train),
            test: Array.from(split.test),
            units: params.units,
            epochs,
            batch: params.batchSize,
            lr: params.learningRate,
          }),
        );
      const pr = torchByEpochs.get(epochs) ?? null;
      rows.push(
        row({
          name: `lstm (${b})`,
          dataset: ds,
          metric: 'holdout ROC AUC',
          ours: r.auc!,
          reference: pr?.roc_auc ?? null,
          referenceName: 'PyTorch, same shape and epochs',
          better: 'higher',
          note: `best epoch ${r.bestEpoch} of ${epochs}`,
        }),
      );
      rows.push(
        row({
          name: `lstm (${b})`,
          dataset: ds,
          metric: 'train sequences/s',
          ours: r.seqPerSecond,
          reference: pr?.seq_per_s ?? null,
          referenceName: 'PyTorch, same shape and epochs',
          better: 'higher',
          note: 'ours includes per-epoch validation and checkpoints',
        }),
      );
    }
  }
  notes.push(
    'Each tfjs backend runs in its own child process (FUNNELCAST_TF_BACKEND=tensorflow|wasm|cpu): a process picks its backend once. The machine has 2 cores shared with other work: throughputs are noisy.',
    'Our model feeds tokens one-hot (the first LSTM kernel acts as the embedding; the WASM backend lacks the Embedding gradient kernel).',
  );
  return { rows, notes };
}

if (require.main === module) {
  childMain(process.argv[2]).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
