/**
 * `npm run bench -- calibration [datasets…]`: are the published probabilities probabilities? For the sample,
 * Online Retail and CDNOW pipelines (their feature tables at the default cutoff, their model parameters) and a
 * generated imbalanced marketing table, our forest and logistic regression against scikit-learn on the same 5
 * stratified folds: pooled out-of-fold log loss, ECE and Σp ÷ observed positives. Then, as a run would, each
 * engine trained on the pipeline's training users and measured on its held-out users (hash of the user id),
 * against the targets: ECE ≤ 0.02, Σp within ±10 % of the positives, log loss below the base rate's.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { row, type BenchRow } from '../harness';
import { projectRoot } from '../../infra/root';
import type { FeatureMatrix } from '../../ml/classifier';
import { selectLabels, selectRows } from '../../ml/classifier';
import { createClassifier } from '../../ml/engines';
import { holdoutByUser, holdoutSplit, stratifiedKFold } from '../../ml/cv';
import { evaluateBinary, expectedCalibrationError } from '../../ml/metrics';
import { mulberry32, normal } from '../../ml/random';
import { loadPipeline } from '../../pipelines/load';
import { modelSpec, type ModelSpec } from '../../pipelines/schema/model';
import { withDuckDB } from '../../warehouse/db';
import { extractPipeline } from '../../warehouse/extract';
import { buildFeatures, defaultCutoff } from '../../warehouse/features';
import { readFeatureTable } from '../../warehouse/matrix';

const FOLDS = 5;
interface Table {
  x: FeatureMatrix;
  y: Uint8Array;
  ids: string[];
  model: ModelSpec;
}

async function pipelineTable(name: string): Promise<Table | null> {
  const loaded = loadPipeline(name);
  if (name !== 'sample' && !existsSync(join(projectRoot(), '..', 'shared', 'datasets'))) return null;
  const out = join(projectRoot(), 'bench', '.cache', `calibration-${name}`);
  return withDuckDB(':memory:', async (conn) => {
    await extractPipeline(conn, loaded);
    const f = await buildFeatures(conn, loaded.definition, {
      cutoff: await defaultCutoff(conn, loaded.definition),
      outDir: out,
    });
    const t = await readFeatureTable(conn, f.featuresPath, { label: 'label', idColumn: 'user_id' });
    return { x: t.x, y: t.y!, ids: t.ids, model: loaded.definition.model };
  });
}

/** The shape of the public marketing table: ~11 % positives, a skewed duration, counts, noise. */
function marketing(n: number, seed: number): Table {
  const rng = mulberry32(seed);
  const names = ['duration', 'previous', 'age', 'balance', 'contact', 'noise1', 'noise2'];
  const cols = names.map(() => new Float32Array(n));
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = [Math.exp(5.3 + 0.8 * normal(rng)), Math.floor(-Math.log(1 - rng()) * 0.6), 20 + 50 * rng()];
    v.push(1500 * normal(rng) + 800, rng() < 0.3 ? 1 : 0, normal(rng), normal(rng));
    const z =
      -3.3 +
      1.4 * Math.log(v[0] / 200) +
      0.6 * Math.min(v[1], 3) +
      (v[2] > 60 || v[2] < 25 ? 0.9 : 0) +
      0.0001 * v[3] +
      0.7 * v[4] * (v[0] > 300 ? 1 : 0);
    y[i] = rng() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    v.forEach((x, j) => (cols[j][i] = x));
  }
  const model = modelSpec.parse({ forest: { nTrees: 100 } });
  return { x: { nRows: n, names, columns: cols }, y, ids: Array.from({ length: n }, (_, i) => `m${i}`), model };
}

function python(): string | null {
  const r = spawnSync('bash', [join(projectRoot(), 'bench', 'python', 'ensure-venv.sh'), 'scikit-learn', 'numpy'], {
    encoding: 'utf8',
  });
  return r.status === 0 ? r.stdout.trim().split('\n').at(-1)! : null;
}

type Metrics = { log_loss: number; ece: number; predicted_to_observed: number };

function sklearn(py: string | null, dataset: string, t: Table, fold: Uint8Array): Record<string, Metrics> | null {
  if (!py) return null;
  const dir = join(projectRoot(), 'bench', '.cache', `calibration-${dataset}-py`);
  mkdirSync(dir, { recursive: true });
  const xBytes = new Float32Array(t.x.nRows * t.x.columns.length);
  t.x.columns.forEach((c, j) => xBytes.set(c, j * t.x.nRows));
  writeFileSync(join(dir, 'x.bin'), xBytes);
  writeFileSync(join(dir, 'y.bin'), t.y);
  writeFileSync(join(dir, 'fold.bin'), fold);
  const spec = { rows: t.x.nRows, features: t.x.columns.length, folds: FOLDS, forest: t.model.forest };
  writeFileSync(
    join(dir, 'spec.json'),
    JSON.stringify({
      ...spec,
      l2: t.model.logistic.l2,
      x: join(dir, 'x.bin'),
      y: join(dir, 'y.bin'),
      fold: join(dir, 'fold.bin'),
    }),
  );
  const r = spawnSync(py, [join(projectRoot(), 'bench', 'python', 'calibration_sklearn.py'), join(dir, 'spec.json')], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`calibration_sklearn.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, Metrics>;
}

const params = (t: Table, engine: 'forest' | 'logistic') => (engine === 'forest' ? t.model.forest : t.model.logistic);

/** Pooled out-of-fold predictions of our engine on the given folds. */
async function ours(t: Table, engine: 'forest' | 'logistic', fold: Uint8Array) {
  const p = new Float64Array(t.x.nRows);
  for (let k = 0; k < FOLDS; k++) {
    const train = Uint32Array.from(fold.keys()).filter((i) => fold[i] !== k);
    const test = Uint32Array.from(fold.keys()).filter((i) => fold[i] === k);
    const clf = createClassifier(engine, params(t, engine), t.model.seed);
    await clf.fit(selectRows(t.x, train), selectLabels(t.y, train));
    clf.predictProba(selectRows(t.x, test)).forEach((v, j) => (p[test[j]] = v));
  }
  return evaluateBinary(t.y, p);
}

/** The pipeline's holdout: held-out users by a hash of their id, as the train step chooses them. */
async function holdout(t: Table, engine: 'forest' | 'logistic') {
  let s = holdoutByUser(t.ids, t.model.holdout, t.model.seed);
  const pos = Array.from(s.test).reduce((a, i) => a + t.y[i], 0);
  if (pos === 0 || pos === s.test.length) s = holdoutSplit(t.y, t.model.holdout, t.model.seed);
  const clf = createClassifier(engine, params(t, engine), t.model.seed);
  await clf.fit(selectRows(t.x, s.train), selectLabels(t.y, s.train));
  const p = clf.predictProba(selectRows(t.x, s.test));
  return { ...evaluateBinary(selectLabels(t.y, s.test), p), ...chance(p) };
}

/**
 * What chance alone does to a perfectly calibrated model on these users: its mean ECE when outcomes are drawn
 * from its own probabilities (200 draws), and the standard deviation of the number of positives, √Σp(1−p).
 */
function chance(p: Float64Array): { chance_ece: number; positives_sd: number } {
  const rng = mulberry32(1);
  let sum = 0;
  const y = new Uint8Array(p.length);
  for (let d = 0; d < 200; d++) {
    for (let i = 0; i < p.length; i++) y[i] = rng() < p[i] ? 1 : 0;
    sum += expectedCalibrationError(y, p);
  }
  return { chance_ece: sum / 200, positives_sd: Math.sqrt(p.reduce((a, v) => a + v * (1 - v), 0)) };
}

export async function run(args: string[]): Promise<{ rows: BenchRow[]; notes: string[] }> {
  const names = args.length ? args : ['marketing', 'sample', 'online_retail', 'cdnow'];
  const py = python();
  const notes = [
    `Pooled out-of-fold metrics over ${FOLDS} stratified folds (seed 42), the same folds for scikit-learn; each pipeline's own forest/logistic parameters (class weight: the default, none).`,
    'ECE: 10 equal-width bins, count-weighted |mean predicted − observed rate|. Holdout rows: users held out by the hash of their id, as `funnelcast run`; sampling noise alone gives an ECE of about 0.8·Σ√(n_b·p_b(1−p_b))/N, i.e. ~0.02–0.04 on a few hundred users.',
  ];
  if (!py) notes.push('Python/scikit-learn unavailable: reference columns are empty.');
  const rows: BenchRow[] = [];
  for (const name of names) {
    const t = name === 'marketing' ? marketing(20_000, 5) : await pipelineTable(name);
    if (!t) {
      notes.push(`${name}: ../shared/datasets is absent, skipped.`);
      continue;
    }
    const fold = new Uint8Array(t.x.nRows);
    stratifiedKFold(t.y, FOLDS, 42).forEach((s, k) => s.test.forEach((i) => (fold[i] = k)));
    const ref = sklearn(py, name, t, fold);
    const dataset = `${name} (${t.x.nRows} users, ${((100 * t.y.reduce((a, b) => a + b, 0)) / t.y.length).toFixed(1)} % positive)`;
    for (const engine of ['logistic', 'forest'] as const) {
      const m = await ours(t, engine, fold);
      const r = ref?.[engine];
      const rc = ref?.forest_calibrated;
      const sk = `scikit-learn ${String(ref?.version ?? '')}`;
      rows.push(
        row({
          name: `${engine} CV`,
          dataset,
          metric: 'log loss',
          ours: m.log_loss,
          reference: r?.log_loss ?? null,
          referenceName: sk,
          better: 'lower',
          note:
            engine === 'forest' && rc
              ? `sklearn + CalibratedClassifierCV(sigmoid): ${rc.log_loss.toFixed(4)}`
              : `base rate: ${m.base_rate_log_loss.toFixed(4)}`,
        }),
        row({
          name: `${engine} CV`,
          dataset,
          metric: 'ECE',
          ours: m.ece,
          reference: r?.ece ?? null,
          referenceName: sk,
          better: 'lower',
          note:
            engine === 'forest' && rc ? `sklearn + CalibratedClassifierCV(sigmoid): ${rc.ece.toFixed(4)}` : undefined,
        }),
        row({
          name: `${engine} CV`,
          dataset,
          metric: 'Σp ÷ positives',
          ours: m.predicted_to_observed,
          reference: r?.predicted_to_observed ?? null,
          referenceName: sk,
        }),
      );
      if (name === 'marketing') continue;
      const h = await holdout(t, engine);
      const sumP = h.predicted_to_observed * h.positives;
      const hd = `${name} holdout (${h.n} users, ${h.positives} positive)`;
      rows.push(
        row({
          name: `${engine} holdout`,
          dataset: hd,
          metric: 'log loss',
          ours: h.log_loss,
          reference: h.base_rate_log_loss,
          referenceName: 'base rate',
          better: 'lower',
        }),
        row({
          name: `${engine} holdout`,
          dataset: hd,
          metric: 'ECE',
          ours: h.ece,
          reference: h.chance_ece,
          referenceName: 'chance alone',
          better: 'lower',
          note: 'reference: mean ECE of a perfectly calibrated model on these users (outcomes drawn from its own probabilities); target 0.02',
        }),
        row({
          name: `${engine} holdout`,
          dataset: hd,
          metric: 'Σp ÷ positives',
          ours: h.predicted_to_observed,
          reference: 1,
          referenceName: 'target ±10 %',
          note: `Σp ${sumP.toFixed(1)} vs ${h.positives} observed: ${((h.positives - sumP) / h.positives_sd).toFixed(1)} σ of outcome noise alone (σ = ${h.positives_sd.toFixed(1)} users)`,
        }),
      );
    }
  }
  return { rows, notes };
}
