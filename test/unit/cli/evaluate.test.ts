import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluateCommand } from '../../../cli/evaluate';
import { runCli } from '../../helpers/cli';
import { mulberry32, normal } from '../../../ml/random';
import { tempDir } from '../../helpers/warehouse';

const run = (args: string[]) => runCli(evaluateCommand, args);

describe('funnelcast evaluate', () => {
  const dir = tempDir('fc-eval-');
  const rng = mulberry32(3);
  const lines = ['spend,visits,plan,converted'];
  for (let i = 0; i < 600; i++) {
    const spend = normal(rng) * 10 + 50;
    const plan = ['free', 'pro', 'team'][i % 3];
    const p = 1 / (1 + Math.exp(-((spend - 50) / 5 + (plan === 'pro' ? 1 : -0.5))));
    lines.push(`${spend.toFixed(2)},${Math.floor(rng() * 20)},${plan},${rng() < p ? 'yes' : 'no'}`);
  }
  const good = join(dir, 'good.csv');
  writeFileSync(good, lines.join('\n') + '\n');

  it('cross-validates any table: one-hot text, yes/no labels, full metric set as JSON', async () => {
    for (const model of ['rf', 'lr', 'boosted']) {
      const r = await run(['--data', good, '--label', 'converted', '--model', model, '--folds', '3', '--json']);
      assert.equal(r.code, 0);
      const j = JSON.parse(r.out);
      assert.equal(j.folds.length, 3);
      assert.ok(j.mean.roc_auc > 0.75, `${model} AUC ${j.mean.roc_auc}`);
      for (const k of ['pr_auc', 'log_loss', 'brier', 'f1', 'top_decile_lift', 'train_seconds'])
        assert.ok(Number.isFinite(j.mean[k]), k);
      assert.ok(j.features >= 5, 'plan one-hot encoded into three columns');
    }
  });

  it('rolling time splits on a time column; lift, gains and calibration over the folds', async () => {
    const timed = join(dir, 'timed.csv');
    // Same rows with a signup date that increases with the row number; the time column is not a feature.
    writeFileSync(
      timed,
      [
        'signup_ts,' + lines[0],
        ...lines.slice(1).map((l, i) => `${new Date(Date.UTC(2024, 0, 1) + i * 3_600_000).toISOString()},${l}`),
      ].join('\n') + '\n',
    );
    const args = [
      '--data',
      timed,
      '--label',
      'converted',
      '--strategy',
      'time',
      '--time-column',
      'signup_ts',
      '--folds',
      '3',
    ];
    const r = await run([...args, '--json']);
    assert.equal(r.code, 0);
    const j = JSON.parse(r.out);
    assert.equal(j.strategy, 'time');
    assert.equal(j.folds.length, 3);
    assert.equal(j.features, 5, 'spend, visits and plan one-hot (3): the time column is excluded');
    assert.ok(j.mean.roc_auc > 0.7, `AUC ${j.mean.roc_auc}`);
    assert.equal(j.lift.length, 10);
    assert.ok(j.lift[0].lift > 1.3, `top decile lift ${j.lift[0].lift}`);
    assert.ok(Math.abs(j.lift[9].cumulativeGain - 1) < 1e-9, 'all converters are reached by the last decile');
    // Each fold validates on 150 rows (a quarter of 600); calibration pools them.
    assert.equal(
      j.calibration.reduce((a: number, c: { count: number }) => a + c.count, 0),
      450,
    );
    const text = await run(args);
    assert.match(text.out, /Lift and cumulative gains by score decile/);
    assert.match(text.out, /Calibration \(reliability bins/);
  });

  it('gives clear errors for a missing label column, a single class and non-numeric junk', async () => {
    await assert.rejects(
      run(['--data', good, '--label', 'bought']),
      /has no label column "bought"; its columns are: spend, visits, plan, converted/,
    );
    const one = join(dir, 'one.csv');
    writeFileSync(one, 'a,y\n1,1\n2,1\n3,1\n');
    await assert.rejects(run(['--data', one, '--label', 'y']), /single class/);
    const junk = join(dir, 'junk.csv');
    writeFileSync(
      junk,
      ['a,y', ...Array.from({ length: 30 }, (_, i) => `${i === 17 ? 'oops' : i},${i % 2}`)].join('\n') + '\n',
    );
    await assert.rejects(run(['--data', junk, '--label', 'y']), /row 18, column "a": "oops" is not a number/);
  });
  it('detects ; and tab delimiters, never uses id or time columns, and honours --exclude', async () => {
    // The marketing-style export: ';'-separated, a unique customer code, a contact date, a row counter, a
    // numeric CustomerID and an epoch "created_at", none of which may become a feature.
    const header = ['row', 'customer', 'CustomerID', 'contact_date', 'created_at', ...lines[0].split(',')];
    const body = lines
      .slice(1)
      .map((l, i) => [
        i + 1,
        `c-${(i * 7919) % 100_000}`,
        10_000 + i,
        new Date(Date.UTC(2024, 0, 1) + i * 86_400_000).toISOString().slice(0, 10),
        1_700_000_000 + i * 3600,
        ...l.split(','),
      ]);
    for (const [delim, ext] of [
      [';', 'csv'],
      ['\t', 'tsv'],
      ['\t', 'txt'],
    ]) {
      const file = join(dir, `ids-${ext}.${ext}`);
      writeFileSync(file, [header, ...body].map((r) => r.join(delim)).join('\n') + '\n');
      const r = await run(['--data', file, '--label', 'converted', '--model', 'lr', '--folds', '3', '--json']);
      const j = JSON.parse(r.out);
      assert.equal(j.delimiter, delim);
      assert.deepEqual(j.featureNames.slice(0, 2), ['spend', 'visits']);
      assert.equal(j.features, 5, `only spend, visits and plan (3 one-hot): ${j.featureNames.join(', ')}`);
      assert.deepEqual(
        j.excluded.map((e: { column: string }) => e.column),
        ['row', 'customer', 'CustomerID', 'contact_date', 'created_at'],
      );
    }
    const file = join(dir, 'ids-csv.csv');
    const r = await run(['--data', file, '--label', 'converted', '--exclude', 'visits,plan', '--folds', '3', '--json']);
    const j = JSON.parse(r.out);
    assert.deepEqual(j.featureNames, ['spend']);
    assert.ok(
      j.excluded.some((e: { column: string; reason: string }) => e.column === 'plan' && /--exclude/.test(e.reason)),
    );
    await assert.rejects(run(['--data', file, '--label', 'converted', '--exclude', 'nope']), /has no column "nope"/);
    const text = await run(['--data', file, '--label', 'converted', '--folds', '3']);
    assert.match(text.out, /not features: row \(named like an id\), customer \(a distinct text value on every row/);
    assert.match(text.out, /contact_date \(a date\/time column \(DATE\)\), created_at \(named like a time/);
  });

  it('reports calibrated out-of-fold probabilities on an imbalanced table, whatever the class weighting', async () => {
    const rare = mulberry32(9);
    const rows = ['tenure;spend;segment;bought'];
    for (let i = 0; i < 6000; i++) {
      const tenure = Math.exp(2 + normal(rare));
      const spend = normal(rare);
      const segment = ['a', 'b', 'c'][i % 3];
      const z = -3.4 + 0.9 * Math.log(tenure) * 0.8 + 0.8 * spend + (segment === 'b' ? 0.7 : 0);
      rows.push(`${tenure.toFixed(3)};${spend.toFixed(3)};${segment};${rare() < 1 / (1 + Math.exp(-z)) ? 1 : 0}`);
    }
    const file = join(dir, 'rare.csv');
    writeFileSync(file, rows.join('\n') + '\n');
    for (const [model, weight] of [
      ['lr', 'none'],
      ['lr', 'balanced'],
      ['rf', 'none'],
      ['rf', 'balanced'],
    ]) {
      const args = ['--data', file, '--label', 'bought', '--model', model, '--class-weight', weight, '--folds', '3'];
      const r = await run([...args, '--json']);
      const c = JSON.parse(r.out).outOfFold;
      const label = `${model} ${weight}: ${JSON.stringify(c)}`;
      assert.ok(c.observed / c.users < 0.2, 'imbalanced');
      assert.ok(c.log_loss < c.base_rate_log_loss, label);
      assert.ok(c.ece <= 0.02, label);
      assert.ok(Math.abs(c.predicted / c.observed - 1) <= 0.1, label);
      // The debiased error (the target's measure) and the ranges chance alone gives a calibrated model.
      assert.ok(c.ece_debiased <= 0.02, label);
      assert.ok(c.ece_chance > 0 && c.ece_chance < 0.02, label);
      assert.ok(c.observed_low <= c.observed && c.observed <= c.observed_high, label);
    }
    const text = await run(['--data', file, '--label', 'bought', '--model', 'lr', '--folds', '3']);
    assert.match(
      text.out,
      /debiased calibration error 0\.\d+ \(Kumar et al\. 2019, equal-mass bins; the ≤ 0\.02 target/,
    );
    assert.match(
      text.out,
      /plug-in ECE 0\.\d+ \(a perfectly calibrated model shows 0\.\d+ on these users by chance alone\)/,
    );
    assert.match(text.out, /chance alone allows \d+–\d+ positives at 90 %/);
    assert.match(text.out, /log loss 0\.\d+ vs 0\.\d+ for the base rate/);
  });
});
