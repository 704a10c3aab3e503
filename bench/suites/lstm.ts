/**
 * `npm run bench -- lstm`: our LSTM (ml/lstm's trainLstm: on tfjs-node through TensorFlow's fused LSTM kernels,
 * elsewhere tfjs-layers) vs a PyTorch CPU LSTM (2 threads) of the same shape, in one run: training throughput on
 * the shape of the issue (T=30, 16 inputs, 32 units, batch 256) on each tfjs backend (native tfjs-node when it
 * loads, WASM, pure-JS CPU); and held-out ROC AUC + throughput on real sequences (the
 * bundled sample, which comes from the data-layer generator, and Online Retail's purchase sequences) on tfjs-node
 * and WASM. PyTorch runs in the bench venv and is skipped with a note when it cannot be installed.
 *
 * A backend is chosen once per process (ml/tf-backend.ts), so every tfjs measurement runs in a child process of
 * this same file with FUNNELCAST_TF_BACKEND set: `node lstm.js <spec.json>` prints one JSON line.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { row, type BenchRow } from '../harness';
import { projectRoot } from '../../infra/root';
import { loadPipeline } from '../../pipelines/load';
import { lstmParams, type LstmParams } from '../../pipelines/schema/model';
import { withDuckDB } from '../../warehouse/db';
import { extractPipeline } from '../../warehouse/extract';
import { buildFeatures, defaultCutoff } from '../../warehouse/features';
import {
  balancedClassWeight,
  createLstmModel,
  readSequences,
  trainEpoch,
  trainLstm,
  loadLstm,
  predictSequences,
  type Sequences,
} from '../../ml/lstm';
import { fusedLstmKernels, selectBackend, type BackendName } from '../../ml/tf-backend';
import { holdoutSplit } from '../../ml/cv';
import { rocAuc } from '../../ml/metrics';
import { mulberry32, normal, shuffle } from '../../ml/random';

const SHAPE = { T: 30, inputs: 16, units: 32, batch: 256, n: 4096, epochs: 2 };

type ChildSpec =
  | { mode: 'throughput' }
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
  /** Throughput mode: trainEpoch alone (the training loop without validation and checkpoints). */
  stepsPerSecond?: number;
  auc?: number;
  epochs?: number;
  bestEpoch?: number;
  /** How the product ran the LSTM: TensorFlow's fused kernels (tfjs-node) or tfjs-layers' ops. */
  path: 'fused kernels' | 'tfjs-layers';
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
  const file = specFile('torch', spec);
  const r = spawnSync(py, [join(projectRoot(), 'bench', 'python', 'lstm_torch.py'), file], {
    encoding: 'utf8',
    maxBuffer: 1 << 22,
  });
  rmSync(file, { force: true });
  return r.status === 0 ? JSON.parse(r.stdout.trim().split('\n').at(-1)!) : null;
}

/** Runs one tfjs measurement in a child process on `backend`; the error text (last stderr line) on failure. */
function child(backend: BackendName, spec: ChildSpec): ChildResult | { error: string } {
  const file = specFile(`${backend}-${spec.mode}`, spec);
  const r = spawnSync(process.execPath, [__filename, file], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
    env: {
      ...process.env,
      FUNNELCAST_TF_BACKEND: backend,
      TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2',
    },
  });
  rmSync(file, { force: true });
  if (r.status !== 0) {
    const lines = `${r.stderr ?? ''}${r.error?.message ?? ''}`.trim().split('\n');
    return { error: lines.find((l) => /Error/.test(l)) ?? lines.at(-1) ?? `exit ${r.status}` };
  }
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as ChildResult;
}

/** SHAPE.n random sequences of SHAPE.T real steps: a token of SHAPE.inputs - 2 types and two normal inputs. */
function randomSequences(n: number): Sequences {
  const rng = mulberry32(1);
  const { T, inputs } = SHAPE;
  const tokens = Int32Array.from({ length: n * T }, () => 1 + Math.floor(rng() * (inputs - 2)));
  const numeric = Float32Array.from({ length: n * T * 2 }, () => normal(rng));
  const labels = Uint8Array.from({ length: n }, () => (rng() < 0.3 ? 1 : 0));
  return { ids: Array.from({ length: n }, (_, i) => `u${i}`), labels, tokens, numeric, length: T };
}

/**
 * The product's training throughput on SHAPE, two ways, after a full-size warm-up run in this process:
 * `steps` = trainEpoch alone (the loop trainLstm runs each epoch: batches, class-weighted loss, Adam; the same work
 * as the PyTorch loop it is compared with); `trainLstm` = the whole call (plus per-epoch validation on 15 %, the
 * best model and the checkpoint written every epoch), counted in training sequences.
 */
async function productThroughput(): Promise<{ steps: number; trainLstm: number }> {
  const params = lstmParams.parse({
    units: SHAPE.units,
    layers: 1,
    // The LSTM takes SHAPE.inputs numbers per step, as PyTorch's does: the embedding's D plus gap and revenue.
    embeddingDim: SHAPE.inputs - 2,
    epochs: SHAPE.epochs,
    batchSize: SHAPE.batch,
    learningRate: 1e-3,
    patience: 0,
    maxTrainSequences: 100_000_000, // the whole set: this measures throughput
  });
  const vocabSize = SHAPE.inputs - 2;
  const dir = mkdtempSync(join(tmpdir(), 'fc-bench-lstm-'));
  try {
    const run = (n: number, epochs: number, out: string) =>
      trainLstm({
        sequences: randomSequences(n),
        vocabSize,
        outDir: join(dir, out),
        params: { ...params, epochs },
        seed: 1,
      });
    // Warm-up at full size: V8 compiles the batch, head and Adam loops and TensorFlow sizes its buffers (the first
    // epoch of a process runs ~25 % slower), so the figures are the steady state a long training run sees.
    await run(SHAPE.n, 1, 'warm-up');
    const whole = (await run(SHAPE.n, SHAPE.epochs, 'measured')).seqPerSecond;

    const s = randomSequences(SHAPE.n);
    const model = createLstmModel(params, vocabSize, SHAPE.T, 1);
    const all = Uint32Array.from({ length: SHAPE.n }, (_, i) => i);
    const classWeight = balancedClassWeight(s.labels, all);
    const rng = mulberry32(2);
    const order = () => shuffle(Uint32Array.from(all), rng);
    await trainEpoch(model, s, order(), SHAPE.batch, classWeight); // warm-up, as above
    let rows = 0;
    const t = performance.now();
    for (let e = 0; e < SHAPE.epochs; e++) rows += (await trainEpoch(model, s, order(), SHAPE.batch, classWeight)).rows;
    const steps = rows / ((performance.now() - t) / 1000);
    model.optimizer.dispose();
    model.dispose();
    return { steps, trainLstm: whole };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function childMain(file: string): Promise<void> {
  const spec = JSON.parse(readFileSync(file, 'utf8')) as ChildSpec;
  const { backend, detail } = await selectBackend();
  // The product model (sigmoid gates) runs on the fused kernels exactly when they are there (ml/lstm fusedModel).
  const path = fusedLstmKernels() ? 'fused kernels' : 'tfjs-layers';
  let out: ChildResult;
  if (spec.mode === 'throughput') {
    const t = await productThroughput();
    out = { backend, detail, path, seqPerSecond: t.trainLstm, stepsPerSecond: t.steps };
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
    out = { backend, detail, path, seqPerSecond: r.seqPerSecond, auc, epochs: r.epochs, bestEpoch: r.bestEpoch };
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
    const common = {
      dataset: shape,
      metric: 'sequences/s',
      reference: ref?.seq_per_s ?? null,
      referenceName: refName,
      better: 'higher' as const,
    };
    rows.push(
      row({
        ...common,
        name: `lstm train steps (${r.detail})`,
        ours: r.stepsPerSecond!,
        note: `trainEpoch on ${r.path}: the same loop as PyTorch's (batches, weighted loss, Adam), nothing else`,
      }),
      row({
        ...common,
        name: `lstm trainLstm (${r.detail})`,
        ours: r.seqPerSecond,
        note: `the whole trainLstm call on ${r.path}: plus per-epoch validation on 15 % and checkpoints (PyTorch has neither)`,
      }),
    );
  }

  const params = lstmParams.parse({ units: 32, embeddingDim: 8, epochs: 8, batchSize: 256, learningRate: 0.005 });
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
    const ds = `${name} sequences (${f.seqs.ids.length} users, T=${f.seqs.length}, ${vocab} event types embedded in ${params.embeddingDim} + 2 numeric)`;
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
            embedding: params.embeddingDim,
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
          note: `${r.path}; best epoch ${r.bestEpoch} of ${epochs}`,
        }),
      );
      rows.push(
        row({
          name: `lstm (${b})`,
          dataset: ds,
          metric: 'train sequences/s',
          ours: r.seqPerSecond,
          reference: pr?.seq_per_s ?? null,
          referenceName: 'PyTorch, same shape and epochs, per-epoch validation and checkpoint',
          better: 'higher',
          note: `trainLstm on ${r.path}, incl. per-epoch validation and checkpoints (both sides)`,
        }),
      );
    }
  }
  notes.push(
    'Each tfjs backend runs in its own child process (FUNNELCAST_TF_BACKEND=tensorflow|wasm|cpu): a process picks its backend once. The machine has 2 cores shared with other work: throughputs are noisy.',
    "Tokens are embedded on both sides (ours: ml/lstm/embedding.ts; PyTorch: nn.Embedding), embeddingDim 8 on the real sequences; on the random shape our embedding is 14 wide so that our LSTM, like PyTorch's, takes 16 numbers per step (PyTorch's random inputs need no embedding).",
    "On tfjs-node the product trains and predicts through TensorFlow's fused BlockLSTMV2/BlockLSTMGradV2 kernels (one native op per layer forward, one backward); on WASM/CPU through tfjs-layers' per-step ops. Same function (sigmoid gates): a model scores the same on every backend.",
  );
  return { rows, notes };
}

if (require.main === module) {
  childMain(process.argv[2]).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
