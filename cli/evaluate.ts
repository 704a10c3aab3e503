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
import { aggregate, evaluateBinary } from '../ml/metrics';
import { EXIT, num, table, UsageError, print } from './format';

export const EVALUATE_HELP = `Usage: funnelcast evaluate --data <file.csv|.tsv|.parquet> --label <column> [--model forest|rf|logistic|lr|mlrf]
                           [--folds k] [--seed n] [--delimiter c] [--strategy kfold|time --time-column c] [--id-column c] [--json]

Cross-validates a model on your feature table: string columns are one-hot encoded, the label is read as 1/0,
yes/no or true/false. Prints ROC AUC per fold, the full metric set (PR AUC, log loss, Brier, accuracy,
precision, recall, F1, best-F1 threshold, top-decile lift) as mean ± std, and training time.

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
      const times = await conn.runAndReadAll(
        `SELECT epoch_ms(TRY_CAST("${values['time-column']!.replace(/"/g, '')}" AS TIMESTAMP)) FROM read_${file.replace(/\.gz$/, '').endsWith('.parquet') ? 'parquet' : 'csv'}('${file.replace(/'/g, "''")}')`,
      );
      splits = timeSplits(Float64Array.from(times.getColumns()[0], Number), k);
    } else splits = stratifiedKFold(t.y!, k, seed);
    const folds: (Record<string, number> & { train_seconds: number })[] = [];
    for (const [i, s] of splits.entries()) {
      const clf = createClassifier(engine, {}, seed);
      const x: FeatureMatrix = selectRows(t.x, s.train);
      const started = performance.now();
      await clf.fit(x, selectLabels(t.y!, s.train));
      const train_seconds = (performance.now() - started) / 1000;
      const m = evaluateBinary(selectLabels(t.y!, s.test), clf.predictProba(selectRows(t.x, s.test)));
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
  return EXIT.ok;
}
