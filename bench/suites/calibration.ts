/**
 * `npm run bench -- calibration [datasets…]`: are the published probabilities probabilities? For the sample,
 * Online Retail, CDNOW and full-CDNOW pipelines, a 60,000-user generated event log and a generated marketing table:
 * our forest and logistic regression against scikit-learn on the same 5 stratified folds of the table a run trains
 * on (pooled out-of-fold log loss, ECE and Σp ÷ positives); then, as a run does, each engine trained on the
 * training users and measured on the held-out users (hash of the user id), and at a past cutoff on every user
 * scored at the cutoff (out of time). Calibration is read three ways (ml/calibration-metrics.ts): the plug-in ECE
 * beside the ECE chance alone gives a calibrated model on the same rows, the debiased calibration error (what the
 * ≤ 0.02 target is checked on) and Σp ÷ positives beside the 90 % range chance alone allows.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { row, type BenchRow } from '../harness';
import { projectRoot } from '../../infra/root';
import { selectLabels, selectRows } from '../../ml/classifier';
import { createClassifier } from '../../ml/engines';
import { holdoutByUser, holdoutSplit, stratifiedKFold } from '../../ml/cv';
import { chanceCalibrationError, evaluateBinary, positivesInterval } from '../../ml/metrics';
import { marketing, pipelineTables, type Table } from './calibration-data';

const FOLDS = 5;
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

/** The held-out users by a hash of their id (salted with the seed), as the train step chooses them. */
function split(t: Table, salt: number) {
  const s = holdoutByUser(t.ids, t.model.holdout, salt);
  const pos = Array.from(s.test).reduce((a, i) => a + t.y[i], 0);
  return pos === 0 || pos === s.test.length ? holdoutSplit(t.y, t.model.holdout, salt) : s;
}

/** The run's holdout model: trained on the training users, its predictions for the held-out ones. */
async function holdoutModel(t: Table, engine: 'forest' | 'logistic', salt = t.model.seed) {
  const s = split(t, salt);
  const clf = createClassifier(engine, params(t, engine), t.model.seed);
  await clf.fit(selectRows(t.x, s.train), selectLabels(t.y, s.train));
  return { clf, y: selectLabels(t.y, s.test), p: clf.predictProba(selectRows(t.x, s.test)) };
}

/** Log loss against the base rate, plug-in ECE against chance, the debiased error against the target, Σp. */
function calibrationRows(name: string, dataset: string, y: Uint8Array, p: Float64Array): BenchRow[] {
  const m = evaluateBinary(y, p);
  const chance = positivesInterval(p);
  const sd = Math.sqrt(p.reduce((a, v) => a + v * (1 - v), 0));
  const testable = m.predicted_to_observed_low >= 0.9 && m.predicted_to_observed_high <= 1.1;
  const d = `${dataset} (${m.n} users, ${m.positives} positive)`;
  return [
    row({
      name,
      dataset: d,
      metric: 'log loss',
      ours: m.log_loss,
      reference: m.base_rate_log_loss,
      referenceName: 'base rate',
      better: 'lower',
    }),
    row({
      name,
      dataset: d,
      metric: 'ECE plug-in',
      ours: m.ece,
      reference: chanceCalibrationError(p),
      referenceName: 'chance alone',
      better: 'lower',
      note: 'reference: mean plug-in ECE of a perfectly calibrated model on these users (outcomes drawn from its own probabilities)',
    }),
    row({
      name,
      dataset: d,
      metric: 'calibration error, debiased',
      ours: m.ece_debiased,
      reference: 0.02,
      referenceName: 'target',
      better: 'lower',
      note: 'Kumar et al. 2019: 10 equal-mass bins, unbiased squared ℓ2 (≥ ℓ1 ECE)',
    }),
    row({
      name,
      dataset: d,
      metric: 'Σp ÷ positives',
      ours: m.predicted_to_observed,
      reference: 1,
      referenceName: 'target ±10 %',
      note:
        `Σp ${chance.expected.toFixed(1)} vs ${m.positives} observed (${((m.positives - chance.expected) / sd).toFixed(1)} σ); ` +
        `90 % range from chance alone ${m.predicted_to_observed_low.toFixed(3)}–${m.predicted_to_observed_high.toFixed(3)}` +
        (testable ? '' : ': wider than ±10 %, so ±10 % cannot be tested on these users'),
    }),
  ];
}

/**
 * A diagnosis, not a tuning knob: the held-out users' positives against Σp for 20 other salts of the hash split
 * (logistic regression, fast), so one split's luck shows as one draw among many.
 */
async function saltSpread(t: Table, dataset: string): Promise<BenchRow> {
  const z: number[] = [];
  let outside = 0;
  for (let salt = 1; salt <= 20; salt++) {
    const { y, p } = await holdoutModel(t, 'logistic', salt);
    const r = positivesInterval(p);
    const k = y.reduce((a, b) => a + b, 0);
    if (k < r.low || k > r.high) outside++;
    z.push((k - r.expected) / Math.sqrt(p.reduce((a, v) => a + v * (1 - v), 0)));
  }
  const mean = z.reduce((a, b) => a + b, 0) / z.length;
  const sd = Math.sqrt(z.reduce((a, b) => a + (b - mean) ** 2, 0) / (z.length - 1));
  return row({
    name: 'logistic holdout, salts 1–20',
    dataset,
    metric: '(positives − Σp) ÷ σ, mean over salts',
    ours: mean,
    reference: sd,
    referenceName: 'sd over salts (1 if luck)',
    note: `outside the 90 % range in ${outside} of 20 splits (2 expected); z: ${z.map((v) => v.toFixed(1)).join(' ')}`,
  });
}

function cvRows(
  engine: string,
  dataset: string,
  m: ReturnType<typeof evaluateBinary>,
  ref: Record<string, Metrics> | null,
  version: string,
) {
  const r = ref?.[engine];
  const rc = engine === 'forest' ? ref?.forest_calibrated : undefined;
  const sk = `scikit-learn ${version}`;
  const name = `${engine} CV`;
  return [
    row({
      name,
      dataset,
      metric: 'log loss',
      ours: m.log_loss,
      reference: r?.log_loss ?? null,
      referenceName: sk,
      better: 'lower',
      note: rc
        ? `sklearn + CalibratedClassifierCV(sigmoid): ${rc.log_loss.toFixed(4)}`
        : `base rate: ${m.base_rate_log_loss.toFixed(4)}`,
    }),
    row({
      name,
      dataset,
      metric: 'ECE plug-in',
      ours: m.ece,
      reference: r?.ece ?? null,
      referenceName: sk,
      better: 'lower',
      note:
        `debiased: ${m.ece_debiased.toFixed(4)}` +
        (rc ? `; sklearn + CalibratedClassifierCV(sigmoid): ${rc.ece.toFixed(4)}` : ''),
    }),
    row({
      name,
      dataset,
      metric: 'Σp ÷ positives',
      ours: m.predicted_to_observed,
      reference: r?.predicted_to_observed ?? null,
      referenceName: sk,
    }),
  ];
}

const share = (y: Uint8Array) => `${((100 * y.reduce((a, b) => a + b, 0)) / y.length).toFixed(1)} % positive`;

export async function run(args: string[]): Promise<{ rows: BenchRow[]; notes: string[] }> {
  const names = args.length ? args : ['marketing', 'sample', 'online_retail', 'cdnow', 'cdnow_master', 'generated'];
  const py = python();
  const notes = [
    `Pooled out-of-fold metrics over ${FOLDS} stratified folds (seed 42) of the table a run at the default cutoff trains on (features one horizon before the cutoff), the same folds for scikit-learn; each pipeline's own forest/logistic parameters (class weight: the default, none).`,
    "Holdout rows: users held out by the hash of their id, as `funnelcast run`. Out-of-time rows: the same model scoring every user at the cutoff, against what they did in the horizon after it (what a past-cutoff run's expected conversions are checked against).",
    'ECE plug-in: 10 equal-width bins, count-weighted |mean predicted − observed rate|; on a few hundred users it mostly measures the sample size (see "chance alone"). Calibration error, debiased: Kumar, Liang & Ma 2019, 10 equal-mass bins, √max(0, unbiased squared ℓ2 error); ≈ 0 for a calibrated model at any size, ≥ the ℓ1 ECE, so the ≤ 0.02 target is checked on it.',
  ];
  if (!py) notes.push('Python/scikit-learn unavailable: reference columns are empty.');
  const rows: BenchRow[] = [];
  for (const name of names) {
    const pt = name === 'marketing' ? null : await pipelineTables(name);
    const t = name === 'marketing' ? marketing(20_000, 5) : pt?.train;
    if (!t) {
      notes.push(`${name}: ../shared/datasets is absent, skipped.`);
      continue;
    }
    if (pt?.note) notes.push(`${name}: ${pt.note}.`);
    const fold = new Uint8Array(t.x.nRows);
    stratifiedKFold(t.y, FOLDS, 42).forEach((s, k) => s.test.forEach((i) => (fold[i] = k)));
    // Cross-validation against scikit-learn up to 25,000 users (2 shared cores); the larger sets: holdout only.
    const withCv = t.x.nRows <= 25_000;
    if (!withCv) notes.push(`${name}: ${t.x.nRows} users, holdout rows only (no 5-fold comparison).`);
    const ref = withCv ? sklearn(py, name, t, fold) : null;
    const at = pt ? `, trained at ${pt.trainingCutoff.slice(0, 10)}` : '';
    const dataset = `${name} (${t.x.nRows} users, ${share(t.y)}${at})`;
    for (const engine of ['logistic', 'forest'] as const) {
      if (withCv) rows.push(...cvRows(engine, dataset, await ours(t, engine, fold), ref, String(ref?.version ?? '')));
      if (!pt) continue;
      const h = await holdoutModel(t, engine);
      rows.push(...calibrationRows(`${engine} holdout`, `${name} holdout`, h.y, h.p));
      if (pt.scored) {
        const s = pt.scored;
        const label = `${name} at ${s.cutoff.slice(0, 10)}, out of time`;
        rows.push(...calibrationRows(`${engine} scored`, label, s.y, h.clf.predictProba(s.x)));
      }
    }
    if (pt && ['sample', 'online_retail', 'cdnow'].includes(name)) rows.push(await saltSpread(t, `${name} holdout`));
  }
  return { rows, notes };
}
