/**
 * `funnelcast evaluate`: cross-validation of a model on any feature table (for ML engineers who bring their own
 * features). No Temporal involved: it runs here, in this process.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { quoteIdent, withDuckDB } from '../warehouse/db';
import { type TabularEngine } from '../ml/engines';
import { selectLabels } from '../ml/classifier';
import { stratifiedKFold, timeSplits } from '../ml/cv';
import {
  aggregate,
  aggregateCalibration,
  aggregateLift,
  baseRateLogLoss,
  calibrationBins,
  chanceCalibrationError,
  debiasedCalibrationError,
  evaluateBinary,
  expectedCalibrationError,
  logLoss,
  positivesInterval,
  liftByDecile,
  type CalibrationBin,
  type LiftRow,
} from '../ml/metrics';
import { EXIT, num, table, UsageError, print } from './format';
import { nonFeatureColumns, sniffDelimiter, tableRelation } from './evaluate-columns';
import { readEvaluationTable } from './evaluate-folds';
import { DEFAULT_CLASS_WEIGHT } from '../pipelines/schema/model';

export const EVALUATE_HELP = `Usage: funnelcast evaluate --data <file.csv|.tsv|.parquet> --label <column> [--model forest|rf|boosted|gbm|logistic|lr|mlrf]
                           [--folds k] [--seed n] [--delimiter c] [--exclude col1,col2] [--class-weight none|balanced]
                           [--strategy kfold|time --time-column c] [--id-column c] [--json]

Cross-validates a model on your feature table: string columns are one-hot encoded, the label is read as 1/0,
yes/no or true/false. The delimiter (, ; tab |) is detected unless --delimiter is given. Id and time columns
are never features: dates and timestamps, text that parses as dates, a distinct text value on every row, a
1…n counter, names like customer_id / CustomerID / created_at; the summary lists what was left out and why,
and --exclude leaves out more. Prints ROC AUC per fold, the full metric set (PR AUC, log loss beside the base
rate's, Brier, ECE plug-in and debiased, accuracy, precision, recall, F1, best-F1 threshold, top-decile lift)
as mean ± std, training time, lift and cumulative gains by decile, and the calibration of the out-of-fold
predictions: debiased calibration error, plug-in ECE beside its chance level, expected vs observed positives
with the range chance alone allows, log loss vs the base rate's, and reliability bins.
Probabilities are calibrated whatever --class-weight (default none, as in pipelines): see docs/calibration.md.

With --uplift --treatment <column> [--control <value>]: cross-validates uplift models instead (see
funnelcast evaluate --uplift --help).

Examples:
  funnelcast evaluate --data features.parquet --label label --model rf --folds 5
  funnelcast evaluate --data bank.csv --label y --model lr --exclude duration
  funnelcast evaluate --data features.parquet --label label --model boosted --folds 5
  funnelcast evaluate --data churn.csv --label churned --model lr --strategy time --time-column signup_ts
`;

const ENGINES: Record<string, TabularEngine> = {
  forest: 'forest',
  rf: 'forest',
  logistic: 'logistic',
  lr: 'logistic',
  mlrf: 'mlrf',
  boosted: 'boosted',
  gbm: 'boosted',
};

interface EvaluateOptions {
  file: string;
  label: string;
  engine: TabularEngine;
  k: number;
  seed: number;
  delimiter?: string;
  strategy: 'kfold' | 'time';
  timeColumn?: string;
  idColumn?: string;
  exclude: string[];
  classWeight: 'none' | 'balanced';
  json: boolean;
}

function parseOptions(argv: string[]): EvaluateOptions | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' },
      label: { type: 'string' },
      model: { type: 'string', default: 'forest' },
      folds: { type: 'string', default: '5' },
      seed: { type: 'string', default: '42' },
      delimiter: { type: 'string' },
      exclude: { type: 'string', default: '' },
      'class-weight': { type: 'string', default: DEFAULT_CLASS_WEIGHT },
      strategy: { type: 'string', default: 'kfold' },
      'time-column': { type: 'string' },
      'id-column': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return null;
  if (!values.data || !values.label) throw new UsageError(`--data and --label are required\n\n${EVALUATE_HELP}`);
  const engine = ENGINES[values.model!];
  if (!engine) throw new UsageError(`--model must be one of ${Object.keys(ENGINES).join(', ')}`);
  const k = Number(values.folds);
  if (!Number.isInteger(k) || k < 2 || k > 20) throw new UsageError('--folds must be an integer from 2 to 20');
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new UsageError('--seed must be a non-negative integer');
  if (values.strategy !== 'kfold' && values.strategy !== 'time')
    throw new UsageError('--strategy must be kfold or time');
  if (values.strategy === 'time' && !values['time-column'])
    throw new UsageError('--strategy time needs --time-column <column>');
  const classWeight = values['class-weight'];
  if (classWeight !== 'none' && classWeight !== 'balanced')
    throw new UsageError('--class-weight must be none or balanced');
  if (classWeight === 'balanced' && engine === 'mlrf') throw new UsageError('mlrf has no class weights');
  const file = resolve(values.data);
  // A missing file is "not found" (exit 4), not a usage error: the command line was right, the file is not there.
  if (!existsSync(file)) throw Object.assign(new Error(`no such file: ${file} (--data)`), { name: 'NotFoundError' });
  return {
    file,
    label: values.label,
    engine,
    k,
    seed,
    delimiter: values.delimiter === '\\t' ? '\t' : values.delimiter,
    strategy: values.strategy,
    timeColumn: values['time-column'],
    idColumn: values['id-column'],
    exclude: values
      .exclude!.split(',')
      .map((c) => c.trim())
      .filter(Boolean),
    classWeight,
    json: values.json!,
  };
}

export async function evaluateCommand(argv: string[]): Promise<number> {
  // Uplift (treatment vs control) is its own evaluation: cli/evaluate-uplift.ts.
  if (argv.includes('--uplift')) return (await import('./evaluate-uplift')).evaluateUpliftCommand(argv);
  const o = parseOptions(argv);
  if (!o) {
    print(EVALUATE_HELP);
    return EXIT.ok;
  }
  const result = await evaluate(o);
  if (o.json) print(JSON.stringify(result, null, 2) + '\n');
  else printResult(result, o.k);
  return EXIT.ok;
}

type EvaluateResult = Awaited<ReturnType<typeof evaluate>>;

async function evaluate(o: EvaluateOptions) {
  const isParquet = o.file.toLowerCase().replace(/\.gz$/, '').endsWith('.parquet');
  const delimiter = isParquet ? undefined : (o.delimiter ?? (await sniffDelimiter(o.file)));
  const relation = tableRelation(o.file, delimiter);
  return withDuckDB(':memory:', async (conn) => {
    const { columns, excluded } = await nonFeatureColumns(conn, relation, o);
    for (const c of [...o.exclude, o.idColumn, o.timeColumn].filter((c): c is string => !!c))
      if (!columns.includes(c))
        throw new UsageError(`${o.file} has no column "${c}"; its columns are: ${columns.join(', ')}`);
    const params = o.engine === 'mlrf' ? {} : { classWeight: o.classWeight };
    const t = await readEvaluationTable(
      conn,
      o.file,
      { engine: o.engine, params, seed: o.seed },
      { label: o.label, idColumn: o.idColumn, delimiter: delimiter ?? ',', exclude: excluded.map((e) => e.column) },
    );
    let splits;
    if (o.strategy === 'time') {
      const col = quoteIdent(o.timeColumn!);
      const times = await conn.runAndReadAll(`SELECT epoch_ms(TRY_CAST(${col} AS TIMESTAMP)) FROM ${relation}`);
      splits = timeSplits(Float64Array.from(times.getColumns()[0], Number), o.k);
    } else splits = stratifiedKFold(t.y, o.k, o.seed);
    const folds: (Record<string, number> & { train_seconds: number })[] = [];
    const lifts: LiftRow[][] = [];
    const calibrations: CalibrationBin[][] = [];
    const pooled: { y: number[]; p: number[] } = { y: [], p: [] };
    for (const [i, s] of splits.entries()) {
      const { p, trainSeconds: train_seconds } = await t.fitAndPredict(s.train, s.test);
      const yTest = selectLabels(t.y, s.test);
      const m = evaluateBinary(yTest, p);
      lifts.push(liftByDecile(yTest, p));
      calibrations.push(calibrationBins(yTest, p));
      // One push per value: spreading a fold of a million rows into push() overflows the call stack.
      for (let k = 0; k < p.length; k++) {
        pooled.y.push(yTest[k]);
        pooled.p.push(p[k]);
      }
      folds.push({ ...(m as unknown as Record<string, number>), train_seconds, fold: i + 1 });
      if (!o.json)
        process.stderr.write(`  fold ${i + 1}/${o.k}: ROC AUC ${num(m.roc_auc)} (${train_seconds.toFixed(2)} s)\n`);
    }
    return {
      file: o.file,
      delimiter: delimiter ?? null,
      rows: t.nRows,
      features: t.names.length,
      featureNames: t.names,
      excluded,
      engine: o.engine,
      classWeight: o.engine === 'mlrf' ? 'none' : o.classWeight,
      strategy: o.strategy,
      folds,
      ...aggregate(folds),
      /** Calibration of the calibrated model's out-of-fold predictions, pooled over the folds. */
      outOfFold: outOfFoldCalibration(pooled.y, pooled.p),
      lift: aggregateLift(lifts),
      calibration: aggregateCalibration(calibrations),
    };
  });
}

/**
 * Calibration of the pooled out-of-fold predictions, read three ways (docs/calibration.md): the debiased
 * calibration error (the ≤ 0.02 target), the plug-in ECE beside what chance alone gives a calibrated model on
 * these rows, and the positives beside the 90 % range chance alone allows around Σp.
 */
function outOfFoldCalibration(y: number[], p: number[]) {
  const observed = y.reduce((a, b) => a + b, 0);
  const chance = positivesInterval(p);
  return {
    users: y.length,
    observed,
    predicted: chance.expected,
    /** 90 % range of the positives a calibrated model expects on these rows (Poisson-binomial). */
    observed_low: chance.low,
    observed_high: chance.high,
    ece: expectedCalibrationError(y, p),
    ece_chance: chanceCalibrationError(p),
    ece_debiased: debiasedCalibrationError(y, p),
    log_loss: logLoss(y, p),
    base_rate_log_loss: baseRateLogLoss(y),
  };
}

function printResult(result: EvaluateResult, k: number) {
  const keys = [
    'roc_auc',
    'pr_auc',
    'log_loss',
    'base_rate_log_loss',
    'brier',
    'ece',
    'ece_debiased',
    'accuracy',
    'precision',
    'recall',
    'f1',
    'best_f1',
    'best_f1_threshold',
    'top_decile_lift',
    'train_seconds',
  ];
  const delim = result.delimiter === null ? '' : `, delimiter ${JSON.stringify(result.delimiter)}`;
  print(
    `\n${result.engine} (class weight ${result.classWeight}) on ${result.file}${delim}: ${result.rows} rows × ${result.features} features, ${k}-fold ${result.strategy}\n`,
  );
  print(
    result.excluded.length
      ? `not features: ${result.excluded.map((e) => `${e.column} (${e.reason})`).join(', ')}\n\n`
      : 'not features: none detected (use --exclude to leave columns out)\n\n',
  );
  print(
    table(
      ['metric', 'mean', '± std', ...result.folds.map((_, i) => `fold ${i + 1}`)],
      keys.map((m) => [m, num(result.mean[m]), num(result.std[m]), ...result.folds.map((f) => num(f[m]))]),
    ) + '\n',
  );
  print('\nLift and cumulative gains by score decile (1 = top 10 %), mean ± std over folds\n\n');
  print(
    table(
      ['decile', 'lift', '± std', 'cumulative gain', '± std'],
      result.lift.map((l) => [l.decile, num(l.lift), num(l.liftStd), num(l.cumulativeGain), num(l.cumulativeGainStd)]),
    ) + '\n',
  );
  const c = result.outOfFold;
  print(
    `\nCalibration of the out-of-fold predictions (${c.users} users):\n` +
      `  debiased calibration error ${num(c.ece_debiased)} (Kumar et al. 2019, equal-mass bins; the ≤ 0.02 target is read on this)\n` +
      `  plug-in ECE ${num(c.ece)} (a perfectly calibrated model shows ${num(c.ece_chance)} on these users by chance alone)\n` +
      `  Σ predicted ${c.predicted.toFixed(1)} vs ${c.observed} observed positives (Σp ÷ positives ${num(c.predicted / c.observed)}; ` +
      `chance alone allows ${c.observed_low}–${c.observed_high} positives at 90 %)\n` +
      `  log loss ${num(c.log_loss)} vs ${num(c.base_rate_log_loss)} for the base rate\n`,
  );
  print('\nCalibration (reliability bins, users pooled over folds)\n\n');
  print(
    table(
      ['bin', 'users', 'mean predicted', 'observed rate', '± std over folds'],
      result.calibration.map((b) => [
        `${b.binStart.toFixed(1)}–${b.binEnd.toFixed(1)}`,
        b.count,
        num(b.meanPredicted),
        num(b.fractionPositive),
        num(b.fractionPositiveStd),
      ]),
    ) + '\n',
  );
}
