/**
 * `funnelcast evaluate --uplift`: cross-validates the uplift models (lift/uplift-models.ts) on a table from a past
 * randomised campaign (one row per customer: features, a treatment column, an outcome), reporting per fold the
 * Qini coefficient, AUUC and uplift@30 % of each model and of the propensity ranking (a forest on the controls:
 * who buys anyway), the baseline an uplift model has to beat. Runs here, in this process.
 */
import { parseArgs } from 'node:util';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { quoteIdent, quoteLiteral, withDuckDB } from '../warehouse/db';
import { readFeatureTable } from '../warehouse/matrix';
import { selectLabels, selectRows } from '../ml/classifier';
import { stratifiedKFold } from '../ml/cv';
import { RandomForest } from '../ml/forest';
import { fitUplift, type UpliftData, type UpliftScorer } from '../lift/uplift-models';
import { qiniCoefficient, upliftAtK, upliftAuc } from '../lift/uplift-metrics';
import { EXIT, num, table, UsageError, print } from './format';
import { nonFeatureColumns, sniffDelimiter, tableRelation } from './evaluate-columns';

export const EVALUATE_UPLIFT_HELP = `Usage: funnelcast evaluate --uplift --data <file> --treatment <column> [--control <value>] --label <column>
                           [--folds k] [--seed n] [--exclude col1,col2] [--json]

Cross-validates uplift models (T-learner and class transformation on the forest) on a table from a past
randomised campaign: one row per customer, features, a treatment column and an outcome. A row is control when
its treatment value equals --control, else treatment; without --control the column must read 1/0, true/false,
yes/no or treatment/control. Per fold: Qini coefficient, AUUC (both normalised: 0 = random, 1 = perfect; as
scikit-uplift computes them) and uplift@30 % of each model and of the propensity ranking (a forest trained on the
control rows: who converts anyway), on the held-out rows.

Example:
  funnelcast evaluate --uplift --data hillstrom.csv --treatment segment --control "No E-Mail" --label conversion
`;

const TREATED = `('1', 'true', 'yes', 't', 'treatment', 'treated')`;
const CONTROL = `('0', 'false', 'no', 'f', 'control')`;

async function readExperiment(o: {
  file: string;
  label: string;
  treatment: string;
  control?: string;
  exclude: string[];
}) {
  const isParquet = o.file.toLowerCase().replace(/\.gz$/, '').endsWith('.parquet');
  const delimiter = isParquet ? undefined : await sniffDelimiter(o.file);
  const relation = tableRelation(o.file, delimiter);
  const dir = mkdtempSync(join(tmpdir(), 'fc-uplift-'));
  try {
    return await withDuckDB(':memory:', async (conn) => {
      const { columns, excluded } = await nonFeatureColumns(conn, relation, { label: o.label, exclude: o.exclude });
      for (const c of [o.treatment, o.label])
        if (!columns.includes(c))
          throw new UsageError(`${o.file} has no column "${c}"; its columns are: ${columns.join(', ')}`);
      const v = `lower(trim(CAST(${quoteIdent(o.treatment)} AS VARCHAR)))`;
      const arm =
        o.control !== undefined
          ? `CASE WHEN CAST(${quoteIdent(o.treatment)} AS VARCHAR) = ${quoteLiteral(o.control)} THEN 0 ELSE 1 END`
          : `CASE WHEN ${v} IN ${TREATED} THEN 1 WHEN ${v} IN ${CONTROL} THEN 0 END`;
      // One copy with the arm as a column, read twice in the same row order: features + outcome, then the arm.
      const file = join(dir, 'experiment.parquet');
      await conn.run(`COPY (SELECT *, ${arm} AS __treated FROM ${relation}) TO ${quoteLiteral(file)} (FORMAT parquet)`);
      const unknown = Number(
        (
          await conn.runAndReadAll(`SELECT count(*) FROM read_parquet(${quoteLiteral(file)}) WHERE __treated IS NULL`)
        ).getRows()[0][0],
      );
      if (unknown)
        throw new UsageError(
          `--treatment ${o.treatment}: ${unknown} rows are neither 1/true/yes/treatment nor 0/false/no/control; name the control value with --control`,
        );
      const notFeatures = [...excluded.map((e) => e.column), o.treatment];
      const data = await readFeatureTable(conn, file, { label: o.label, exclude: [...notFeatures, '__treated'] });
      const arms = await readFeatureTable(conn, file, { label: '__treated', exclude: [...notFeatures, o.label] });
      return { x: data.x, y: data.y!, t: arms.y!, excluded };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const MODELS = ['t_learner', 'class_transformation', 'propensity'] as const;

async function scorerFor(kind: (typeof MODELS)[number], d: UpliftData, seed: number): Promise<UpliftScorer> {
  const params = { nTrees: 100, maxDepth: 8, minSamplesLeaf: 20 };
  if (kind !== 'propensity') return fitUplift(kind, d, params, seed);
  const controls = Array.from(d.t.keys()).filter((i) => d.t[i] === 0);
  const forest = new RandomForest(params, seed, 1);
  await forest.fit(selectRows(d.x, controls), selectLabels(d.y, controls));
  return (x) => forest.predictProba(x);
}

type FoldRow = { fold: number; model: string; qini: number; auuc: number; uplift_at_30: number };

/** Each model's Qini, AUUC and uplift@30 % on each of k stratified folds (trained on the others). */
async function crossValidate(d: UpliftData, k: number, seed: number, progress: boolean): Promise<FoldRow[]> {
  const folds: FoldRow[] = [];
  for (const [i, s] of stratifiedKFold(d.y, k, seed).entries()) {
    const part = (rows: ArrayLike<number>): UpliftData => ({
      x: selectRows(d.x, rows),
      y: selectLabels(d.y, rows),
      t: selectLabels(d.t, rows),
    });
    const [train, test] = [part(s.train), part(s.test)];
    for (const model of MODELS) {
      const score = (await scorerFor(model, train, seed))(test.x);
      folds.push({
        fold: i + 1,
        model,
        qini: qiniCoefficient(test.y, test.t, score),
        auuc: upliftAuc(test.y, test.t, score),
        uplift_at_30: upliftAtK(test.y, test.t, score, 0.3),
      });
    }
    if (progress) process.stderr.write(`  fold ${i + 1}/${k} done\n`);
  }
  return folds;
}

/** Mean and standard deviation over the folds, per model. */
function summarise(folds: FoldRow[]) {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
  return MODELS.map((model) => {
    const f = folds.filter((r) => r.model === model);
    const of = (key: 'qini' | 'auuc' | 'uplift_at_30') => ({
      mean: mean(f.map((r) => r[key])),
      std: std(f.map((r) => r[key])),
    });
    return { model, qini: of('qini'), auuc: of('auuc'), uplift_at_30: of('uplift_at_30') };
  });
}

export async function evaluateUpliftCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      uplift: { type: 'boolean', default: true },
      data: { type: 'string' },
      label: { type: 'string' },
      treatment: { type: 'string' },
      control: { type: 'string' },
      folds: { type: 'string', default: '5' },
      seed: { type: 'string', default: '42' },
      exclude: { type: 'string', default: '' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    print(EVALUATE_UPLIFT_HELP);
    return EXIT.ok;
  }
  if (!values.data || !values.label || !values.treatment)
    throw new UsageError(`--data, --treatment and --label are required\n\n${EVALUATE_UPLIFT_HELP}`);
  const k = Number(values.folds);
  const seed = Number(values.seed);
  if (!Number.isInteger(k) || k < 2 || k > 20) throw new UsageError('--folds must be an integer from 2 to 20');
  if (!Number.isInteger(seed) || seed < 0) throw new UsageError('--seed must be a non-negative integer');
  const file = resolve(values.data);
  if (!existsSync(file)) throw Object.assign(new Error(`no such file: ${file} (--data)`), { name: 'NotFoundError' });
  const exclude = values
    .exclude!.split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  const d = await readExperiment({
    file,
    label: values.label,
    treatment: values.treatment,
    control: values.control,
    exclude,
  });
  const folds = await crossValidate(d, k, seed, !values.json);
  const summary = summarise(folds);
  const treated = d.t.reduce((a, v) => a + v, 0);
  const result = {
    file,
    rows: d.x.nRows,
    treated,
    control: d.x.nRows - treated,
    features: d.x.names,
    excluded: d.excluded,
    folds,
    summary,
  };
  if (values.json) {
    print(JSON.stringify(result, null, 2) + '\n');
    return EXIT.ok;
  }
  print(
    `${file}: ${d.x.nRows} rows (${treated} treatment, ${d.x.nRows - treated} control), ${d.x.names.length} features, ${k} folds\n`,
  );
  const pm = (m: { mean: number; std: number }) => `${num(m.mean)} ± ${num(m.std)}`;
  print(
    table(
      ['model', 'Qini coefficient', 'AUUC', 'uplift@30 %'],
      summary.map((s) => [s.model, pm(s.qini), pm(s.auuc), pm(s.uplift_at_30)]),
    ) + '\n',
  );
  print('propensity = ranking by the chance of converting without the campaign (the baseline to beat)\n');
  return EXIT.ok;
}
