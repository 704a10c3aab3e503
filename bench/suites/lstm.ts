/**
 * `npm run bench -- lstm`: our tfjs LSTM vs a PyTorch CPU LSTM (2 threads) of the same shape, in one run:
 * training throughput on the shape of the issue (T=30, 16 inputs, 32 units, batch 256), on WASM and on the
 * pure-JS CPU backend; and held-out ROC AUC + throughput on real sequences (the bundled sample, which comes from
 * the data-layer generator, and Online Retail's purchase sequences). PyTorch runs in the bench venv and is
 * skipped with a note when it cannot be installed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { row, type BenchRow } from '../harness';
import { projectRoot } from '../../infra/root';
import { loadPipeline } from '../../pipelines/load';
import { withDuckDB } from '../../warehouse/db';
import { extractPipeline } from '../../warehouse/extract';
import { buildFeatures, defaultCutoff } from '../../warehouse/features';
import { readSequences, trainLstm, loadLstm, predictSequences } from '../../ml/lstm';
import { selectBackend } from '../../ml/tf-backend';
import { holdoutSplit } from '../../ml/cv';
import { rocAuc } from '../../ml/metrics';

const SHAPE = { T: 30, inputs: 16, units: 32, batch: 256, n: 4096, epochs: 2 };

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

function runPy(py: string, spec: object): Record<string, number> | null {
  const file = join(projectRoot(), 'bench', '.cache', `lstm-spec-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(spec));
  const r = spawnSync(py, [join(projectRoot(), 'bench', 'python', 'lstm_torch.py'), file], {
    encoding: 'utf8',
    maxBuffer: 1 << 22,
  });
  return r.status === 0 ? JSON.parse(r.stdout.trim().split('\n').at(-1)!) : null;
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

export async function run(): Promise<{ rows: BenchRow[]; notes: string[] }> {
  const notes: string[] = [];
  const rows: BenchRow[] = [];
  const py = torchPython();
  if (!py) notes.push('PyTorch could not be installed or imported in bench/.venv: reference columns are empty.');
  const ref = py ? runPy(py, { mode: 'throughput', ...SHAPE }) : null;
  const backend = await selectBackend();
  const wasm = await tfjsThroughput();
  await tf.setBackend('cpu');
  const cpu = await tfjsThroughput();
  await tf.setBackend(backend.backend);
  const shape = `random, T=${SHAPE.T}, ${SHAPE.inputs} inputs, ${SHAPE.units} units, batch ${SHAPE.batch}`;
  rows.push(
    row({
      name: `lstm train (${backend.detail})`,
      dataset: shape,
      metric: 'sequences/s',
      ours: wasm,
      reference: ref?.seq_per_s ?? null,
      referenceName: `PyTorch ${ref?.torch ?? ''} CPU, 2 threads`,
      better: 'higher',
    }),
  );
  rows.push(
    row({
      name: 'lstm train (pure-JS CPU backend)',
      dataset: shape,
      metric: 'sequences/s',
      ours: cpu,
      reference: ref?.seq_per_s ?? null,
      referenceName: `PyTorch ${ref?.torch ?? ''} CPU, 2 threads`,
      better: 'higher',
    }),
  );

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
    const r = await trainLstm({
      sequences: f.seqs,
      vocabSize: vocab,
      outDir: join(out, 'model'),
      params,
      seed: 1,
      trainRows: split.train,
    });
    const { model } = await loadLstm(r.modelDir);
    const auc = rocAuc(
      Array.from(split.test, (i) => f.seqs.labels[i]),
      predictSequences(model, f.seqs, split.test),
    );
    model.dispose();
    const pr = py
      ? runPy(py, {
          mode: 'auc',
          file: f.feats.sequencesPath,
          vocab,
          train: Array.from(split.train),
          test: Array.from(split.test),
          units: params.units,
          epochs: r.epochs,
          batch: params.batchSize,
          lr: params.learningRate,
        })
      : null;
    const ds = `${name} sequences (${f.seqs.ids.length} users, T=${f.seqs.length}, ${vocab + 2} inputs)`;
    rows.push(
      row({
        name: 'lstm',
        dataset: ds,
        metric: 'holdout ROC AUC',
        ours: auc,
        reference: pr?.roc_auc ?? null,
        referenceName: 'PyTorch, same shape and epochs',
        better: 'higher',
        note: `best epoch ${r.bestEpoch} of ${r.epochs}`,
      }),
    );
    rows.push(
      row({
        name: 'lstm',
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
  notes.push(
    `Backend: ${backend.detail}. Our model feeds tokens one-hot (the first LSTM kernel acts as the embedding; the WASM backend lacks the Embedding gradient kernel).`,
  );
  return { rows, notes };
}
