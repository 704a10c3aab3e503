/**
 * `funnelcast evaluate`: cross-validation of a model on any feature table (for ML engineers who bring their own
 * features). No Temporal involved: it runs here, in this process.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { withDuckDB } from '../warehouse/db';
import { readFeatureTable } from '../warehouse/matrix';
import { createClassifier, type TabularEngine } from '../ml/engines';
import { selectLabels, selectRows, type FeatureMatrix } from '../ml/classifier';
import { stratifiedKFold, timeSplits } from '../ml/cv';
import {
  aggregate,
  aggregateCalibration,
  aggregateLift,
  calibrationBins,
  evaluateBinary,
  liftByDecile,
  type CalibrationBin,
  type LiftRow,
} from '../ml/metrics';
import { EXIT, num, table, UsageError, print } from './format';

export const EVALUATE_HELP = `Usage: funnelcast evaluate --data <file.csv|.tsv|.parquet> --label <column> [--model forest|rf|logistic|lr|mlrf]
                           [--folds k] [--seed n] [--delimiter c] [--strategy kfold|time --time-column c] [--id-column c] [--json]

Cross-validates a model on your feature table: string columns are one-hot encoded, the label is read as 1/0,
yes/no or true/false. Prints ROC AUC per fold, the full metric set (PR AUC, log loss, Brier, accuracy,
precision, recall, F1, best-F1 threshold, top-decile lift) as mean ± std, training time, lift and
cumulative gains by decile and calibration bins over the folds.

Examples:
  funnelcast evaluate --data features.parquet --label label --model rf --folds 5
  funnelcast evaluate --data churn.csv --label churned --model lr --strategy time --time-column signup_ts
`;

const ENGINES: Record<string, TabularEngine> = {
  forest: 'forest',
  rf: 'forest',
  logistic: 'logistic',
  lr: 'logistic',
  mlrf: 'mlrf',
};

export async function evaluateCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' },
      label: { type: 'string' },
      model: { type: 'string', default: 'forest' },
      folds: { type: 'string', default: '5' },
      seed: { type: 'string', default: '42' },
      delimiter: { type: 'string' },
      strategy: { type: 'string', default: 'kfold' },
      'time-column': { type: 'string' },
      'id-column': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    print(EVALUATE_HELP);
    return EXIT.ok;
  }
  if (!values.data || !values.label) throw new UsageError(`--data and --label are required\n\n${EVALUATE_HELP}`);
  const engine = ENGINES[values.model!];
  if (!engine) throw new UsageError(`--model must be one of ${Object.keys(ENGINES).join(', ')}`);
  const k = Number(values.folds);
  if (!Number.isInteger(k) || k < 2 || k > 20) throw new UsageError('--folds must be an integer from 2 to 20');
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new UsageError('--seed must be a non-negative integer');
  if (!['kfold', 'time'].includes(values.strategy!)) throw new UsageError('--strategy must be kfold or time');
  if (values.strategy === 'time' && !values['time-column'])
    throw new UsageError('--strategy time needs --time-column <column>');
  const file = resolve(values.data);
  if (!existsSync(file)) throw new UsageError(`no such file: ${file}`);
  const delimiter = values.delimiter === '\\t' ? '\t' : values.delimiter;

  const result = await withDuckDB(':memory:', async (conn) => {
    const exclude = values['time-column'] ? [values['time-column']] : [];
    const t = await readFeatureTable(conn, file, {
      label: values.label,
      idColumn: values['id-column'],
      delimiter,
      exclude,
    });
    let splits;
    if (values.strategy === 'time') {
      // The file path is bound as a value; the column name is quoted as an identifier (quotes doubled).
      const col = `"${values['time-column']!.replace(/"/g, '""')}"`;
      const reader = file.replace(/\.gz$/, '').endsWith('.parquet')
        ? 'read_parquet($f)'
        : 'read_csv($f, delim = $d, header = true, sample_size = -1)';
      const times = await conn.runAndReadAll(`SELECT epoch_ms(TRY_CAST(${col} AS TIMESTAMP)) FROM ${reader}`, {
        f: file,
        ...(reader.startsWith('read_csv')
          ? { d: delimiter ?? (file.replace(/\.gz$/, '').endsWith('.tsv') ? '\t' : ',') }
          : {}),
      });
      splits = timeSplits(Float64Array.from(times.getColumns()[0], Number), k);
    } else splits = stratifiedKFold(t.y!, k, seed);
    const folds: (Record<string, number> & { train_seconds: number })[] = [];
    const lifts: LiftRow[][] = [];
    const calibrations: CalibrationBin[][] = [];
    for (const [i, s] of splits.entries()) {
      const clf = createClassifier(engine, {}, seed);
      const x: FeatureMatrix = selectRows(t.x, s.train);
      const started = performance.now();
      await clf.fit(x, selectLabels(t.y!, s.train));
      const train_seconds = (performance.now() - started) / 1000;
      const yTest = selectLabels(t.y!, s.test);
      const p = clf.predictProba(selectRows(t.x, s.test));
      const m = evaluateBinary(yTest, p);
      lifts.push(liftByDecile(yTest, p));
      calibrations.push(calibrationBins(yTest, p));
      folds.push({ ...(m as unknown as Record<string, number>), train_seconds, fold: i + 1 });
      if (!values.json)
        process.stderr.write(`  fold ${i + 1}/${k}: ROC AUC ${num(m.roc_auc)} (${train_seconds.toFixed(2)} s)\n`);
    }
    return {
      file,
      rows: t.x.nRows,
      features: t.x.names.length,
      engine,
      strategy: values.strategy,
      folds,
      ...aggregate(folds),
      lift: aggregateLift(lifts),
      calibration: aggregateCalibration(calibrations),
    };
  });
  if (values.json) {
    print(JSON.stringify(result, null, 2) + '\n');
    return EXIT.ok;
  }
  const keys = [
    'roc_auc',
    'pr_auc',
    'log_loss',
    'brier',
    'accuracy',
    'precision',
    'recall',
    'f1',
    'best_f1',
    'best_f1_threshold',
    'top_decile_lift',
    'train_seconds',
  ];
  print(
    `\n${result.engine} on ${result.file}: ${result.rows} rows × ${result.features} features, ${k}-fold ${result.strategy}\n\n`,
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
  print('\nCalibration (reliability bins, users pooled over folds)\n\n');
  print(
    table(
      ['bin', 'users', 'mean predicted', 'observed rate', '± std over folds'],
      result.calibration.map((c) => [
        `${c.binStart.toFixed(1)}–${c.binEnd.toFixed(1)}`,
        c.count,
        num(c.meanPredicted),
        num(c.fractionPositive),
        num(c.fractionPositiveStd),
      ]),
    ) + '\n',
  );
  return EXIT.ok;
}
