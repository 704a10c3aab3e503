/**
 * The whole pipeline on a real Temporal dev server and a real DuckDB file, on the bundled sample: asserts on
 * the artifacts it wrote (manifest checksums match the files, exports hold the expected users, metrics in range).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DuckDBInstance } from '@duckdb/node-api';
import { createWorker, type FunnelcastWorker } from '../../worker';
import { projectRoot } from '../../infra/root';
import type { RunSummary } from '../../workflows/types';
import { startTestServer, uniqueQueue, useTempHome } from '../helpers/temporal';
import { forPeople } from '../../cli/edge';

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

async function count(sql: string): Promise<number> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const r = await conn.runAndReadAll(sql);
    return Number(r.getRows()[0][0]);
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/** The bundled sample's definition with absolute source paths, changed by `patch`, written to a temp file. */
function samplePipelineFile(name: string, patch: (d: Record<string, any>) => void): string {
  const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
  def.name = name;
  def.sources.events.path = join(projectRoot(), 'data', 'sample', 'events.csv.gz');
  patch(def);
  const file = join(mkdtempSync(join(tmpdir(), `fc-${name}-`)), `${name}.json`);
  writeFileSync(file, JSON.stringify(def));
  return file;
}

describe('retrain pipeline on the bundled sample (real Temporal + DuckDB)', { timeout: 600_000 }, () => {
  let env: TestWorkflowEnvironment;
  let worker: FunnelcastWorker;
  let connection: NativeConnection;
  let running: Promise<void>;
  const taskQueue = uniqueQueue('pipeline');
  let summary: RunSummary;
  let second: RunSummary;
  const firstId = `test-pipeline-${Date.now()}`;

  before(async () => {
    useTempHome();
    env = await startTestServer();
    connection = await NativeConnection.connect({ address: env.address });
    worker = await createWorker({ connection, taskQueue });
    running = worker.run();
    summary = await env.client.workflow.execute('retrainWorkflow', {
      taskQueue,
      workflowId: firstId,
      args: [{ pipeline: 'sample', trigger: 'test' }],
    }).then(forPeople);
  });

  after(async () => {
    worker?.shutdown();
    await running;
    await connection?.close();
    await env?.teardown();
  });

  it('accounts for every row read', () => {
    const e = summary.extract;
    assert.ok(e.read > 0);
    assert.equal(e.read, e.loaded + e.duplicates + e.quarantined);
    assert.ok(e.users > 100, `expected the sample's users, got ${e.users}`);
  });

  it('builds labelled features with both classes', () => {
    assert.equal(summary.features.labelled, true);
    assert.ok(summary.features.labelRate! > 0 && summary.features.labelRate! < 1);
    assert.ok(summary.features.featureCount >= 10);
    assert.ok(existsSync(summary.features.featuresPath));
  });

  it('trains a model whose metrics are numbers in range', () => {
    const h = summary.model.holdout!;
    assert.ok(h.roc_auc > 0.6 && h.roc_auc <= 1, `holdout AUC ${h.roc_auc}`);
    assert.ok(h.log_loss > 0 && Number.isFinite(h.log_loss));
    assert.ok(h.brier >= 0 && h.brier <= 1);
    const cv = summary.model.cv!;
    assert.ok(cv.folds.length >= 2);
    // Lift/gains and calibration aggregated from the folds' held-out predictions: every user is in one fold.
    assert.equal(cv.lift!.length, 10);
    assert.ok(cv.lift![0].lift > 1, `top-decile lift over the folds ${cv.lift![0].lift}`);
    assert.ok(Math.abs(cv.lift![9].cumulativeGain - 1) < 1e-9);
    assert.equal(
      cv.calibration!.reduce((a, c) => a + c.count, 0),
      summary.features.trainingUsers,
    );
  });

  it('publishes a model version whose manifest checksums match the files', () => {
    const p = summary.publish!;
    assert.ok(p.version.startsWith('v0001'));
    assert.equal(p.decision, 'first');
    assert.equal(p.kind, 'live');
    assert.match(p.reason, /^no champion yet/);
    assert.equal(p.comparison, null);
    const manifest = JSON.parse(readFileSync(join(p.versionDir, 'manifest.json'), 'utf8'));
    const files: { path: string; sha256: string }[] = manifest.files;
    assert.ok(files.length >= 3);
    for (const f of files) assert.equal(sha256(join(p.versionDir, f.path)), f.sha256, f.path);
  });

  it('scores every featured user and exports campaign lists as CSV and Parquet', async () => {
    assert.equal(summary.scoring!.users, summary.features.users);
    assert.ok(summary.exports.length >= 1);
    for (const e of summary.exports) {
      assert.ok(existsSync(e.csvPath) && existsSync(e.parquetPath));
      assert.equal(await count(`SELECT count(*) FROM read_parquet('${e.parquetPath}')`), e.rows);
      assert.equal(await count(`SELECT count(*) FROM read_csv('${e.csvPath}')`), e.rows);
    }
    assert.ok(summary.reportPath && existsSync(summary.reportPath));
    // The sample delivers its lists to <home>/exports/sample (export.destination), byte for byte.
    assert.equal(summary.delivery!.delivered, true);
    assert.ok(summary.delivery!.dir.endsWith(join('exports', 'sample')));
    for (const e of summary.exports)
      for (const f of [e.csvPath, e.parquetPath])
        assert.equal(sha256(join(summary.delivery!.dir, basename(f))), sha256(f), f);
  });

  it('at a past cutoff, scores out of sample with a model trained one horizon earlier and records realised conversions', async () => {
    // The sample's default cutoff 2024-04-30 is in the past: its 30-day outcomes are in the data.
    assert.equal(summary.cutoff, '2024-04-30T00:00:00.000Z');
    assert.equal(summary.trainingCutoff, '2024-03-31T00:00:00.000Z', 'trained where the live run would have');
    const version = JSON.parse(readFileSync(join(summary.publish!.versionDir, 'version.json'), 'utf8'));
    assert.equal(version.lineage.trainingCutoff, summary.trainingCutoff);
    assert.equal(version.lineage.cutoff, summary.cutoff);
    assert.equal(summary.scoring!.modelVersion, summary.publish!.version, 'scored with the version publish decided');
    const manifest = JSON.parse(readFileSync(summary.manifestPath!, 'utf8'));
    const report = readFileSync(summary.reportPath!, 'utf8');
    assert.ok(report.includes('realised conversions'));
    for (const e of summary.exports) {
      // Independently: users on the list whose label at the cutoff (a transaction in [T, T + 30d)) is 1.
      const realised = await count(
        `SELECT count(*) FROM read_parquet('${e.parquetPath}') c JOIN read_parquet('${summary.features.featuresPath}') f
           ON f.user_id = CAST(c.user_id AS VARCHAR) WHERE f.label = 1`,
      );
      assert.equal(e.realisedConversions, realised, e.campaign);
      assert.equal(
        manifest.campaigns.find((c: { name: string }) => c.name === e.campaign).realisedConversions,
        realised,
      );
    }
    assert.ok(summary.exports.some((e) => e.realisedConversions! > 0));
  });

  it('trains the holdout models beside the cross-validation folds when the engine and its settings are fixed', async () => {
    // Issue 17: the holdout models waited for every fold, so one CPU slot idled while the last fold ran alone.
    const events = (await env.client.workflow.getHandle(firstId).fetchHistory()).events ?? [];
    const label = (e: (typeof events)[number]) => {
      const data = e.userMetadata?.summary?.data;
      return data ? String(JSON.parse(Buffer.from(data).toString('utf8'))) : '';
    };
    const trained = new Map<string, string>(); // scheduled event id → the activity's summary
    let firstHoldout = -1;
    let lastFoldDone = -1;
    events.forEach((e, i) => {
      if (e.activityTaskScheduledEventAttributes?.activityType?.name === 'trainModel') {
        trained.set(String(e.eventId), label(e));
        if (firstHoldout < 0 && label(e).startsWith('holdout')) firstHoldout = i;
      }
      const done = e.activityTaskCompletedEventAttributes;
      if (done && trained.get(String(done.scheduledEventId))?.startsWith('fold')) lastFoldDone = i;
    });
    assert.ok(firstHoldout >= 0 && lastFoldDone >= 0, `holdout at ${firstHoldout}, last fold done at ${lastFoldDone}`);
    assert.ok(firstHoldout < lastFoldDone, 'a holdout model was scheduled before the last fold finished');
    assert.equal(summary.model.cv?.folds.length, 3);
  });

  it('gates a second, live model against the champion on the same held-out users, even when the first publish attempt crashed before the pointer moved', async () => {
    // A later cutoff (live) and a tolerance of 1, so the gate must promote on the same rows; the first publish
    // attempt crashes after writing the version folder (the retry used to answer "already published" as challenger).
    const file = samplePipelineFile('sample', (d) => (d.registry = { primaryMetric: 'roc_auc', tolerance: 1 }));
    process.env.FUNNELCAST_FAULTS = 'publishModel:crashBeforeChampion:1';
    const handle = await env.client.workflow.start('retrainWorkflow', {
      taskQueue,
      workflowId: `test-second-${Date.now()}`,
      args: [{ pipeline: file, cutoff: '2024-05-01T00:00:00Z', trigger: 'test', trainOnly: true }],
    });
    const s = (await handle.result().then(forPeople)) as RunSummary;
    delete process.env.FUNNELCAST_FAULTS;
    const attempts = ((await handle.fetchHistory()).events ?? [])
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt!);
    assert.ok(attempts.includes(2), 'the publish was retried after the injected crash');
    const c = s.publish!.comparison!;
    assert.equal(c.version, summary.publish!.version);
    assert.equal(c.sameRows, true);
    assert.equal(c.why, undefined);
    assert.equal(c.metric, 'roc_auc');
    assert.equal(c.metrics.n, s.model.holdout!.n, "the champion was scored on exactly the new model's held-out users");
    assert.ok(c.metrics.roc_auc > 0.5 && c.metrics.roc_auc <= 1);
    assert.equal(s.publish!.kind, 'live');
    assert.equal(s.publish!.decision, 'promoted', s.publish!.reason);
    assert.match(s.publish!.reason, /on the same validation rows/);
    assert.equal(s.publish!.champion, s.publish!.version);
    const report = readFileSync(s.reportPath!, 'utf8');
    assert.ok(report.includes(`previous champion <code>${c.version}</code> on the same held-out users`));
    assert.ok(report.includes(`champion ${c.version} (AUC ${c.metrics.roc_auc.toFixed(3)})`));
    second = s;
  });

  it('a backfill over older cutoffs after the live run publishes backtests and leaves the champion unchanged', async () => {
    const registry = join(process.env.FUNNELCAST_HOME!, 'registry', 'sample');
    const historyBefore = readFileSync(join(registry, 'champion-history.jsonl'), 'utf8');
    const championBefore = JSON.parse(readFileSync(join(registry, 'champion.json'), 'utf8')).version;
    assert.match(championBefore, /-sample-20240501T000000Z(-|$)/, 'the live champion is the 2024-05-01 run');
    const rows = (await env.client.workflow.execute('backfillWorkflow', {
      taskQueue,
      workflowId: `test-backfill-${Date.now()}`,
      args: [
        {
          // Tolerance 1: through the gate these would replace the champion (they did before backtests existed).
          pipeline: samplePipelineFile('sample', (d) => {
            d.cv = { strategy: 'none' };
            d.registry = { primaryMetric: 'roc_auc', tolerance: 1 };
          }),
          cutoffs: ['2024-03-20T00:00:00.000Z', '2024-04-10T00:00:00.000Z'],
          concurrency: 2,
          trainOnly: true,
        },
      ],
    }).then(forPeople)) as { status: string; modelVersion: string }[];
    assert.deepEqual(
      rows.map((r) => r.status),
      ['done', 'done'],
    );
    const champion = JSON.parse(readFileSync(join(registry, 'champion.json'), 'utf8'));
    assert.equal(champion.version, championBefore, 'the live champion still serves');
    assert.equal(readFileSync(join(registry, 'champion-history.jsonl'), 'utf8'), historyBefore, 'no pointer move');
    for (const r of rows) {
      const d = JSON.parse(readFileSync(join(registry, 'decisions', `${r.modelVersion}.json`), 'utf8'));
      assert.equal(d.kind, 'backtest');
      assert.equal(d.decision, 'backtest');
    }
  });

  it('never replaces a champion it cannot compare (other features) automatically; --replace-incomparable does, on the record', async () => {
    const registry = join(process.env.FUNNELCAST_HOME!, 'registry', 'sample');
    // Fewer feature windows: the champion cannot be re-scored on these rows. Tolerance 1 would promote anything.
    const file = samplePipelineFile('sample', (d) => {
      d.features.windows = ['7d', '30d'];
      d.cv = { strategy: 'none' };
      d.registry = { primaryMetric: 'roc_auc', tolerance: 1 };
    });
    const run = async (cutoff: string, replaceIncomparable?: boolean) =>
      (await env.client.workflow.execute('retrainWorkflow', {
        taskQueue,
        workflowId: `test-incomparable-${Date.now()}`,
        args: [{ pipeline: file, cutoff, trigger: 'test', trainOnly: true, replaceIncomparable }],
      }).then(forPeople)) as RunSummary;
    const kept = await run('2024-05-10T00:00:00Z');
    assert.equal(kept.publish!.decision, 'incomparable', kept.publish!.reason);
    assert.equal(kept.publish!.comparison!.sameRows, false);
    assert.match(kept.publish!.comparison!.why!, /trained on other features/);
    assert.doesNotMatch(kept.publish!.reason, /same validation rows/);
    assert.equal(kept.publish!.champion, second.publish!.version, 'the champion stays');
    // The same cutoff and definition with the flag: a new run (the flag is part of its key), not the finished one.
    const replaced = await run('2024-05-10T00:00:00Z', true);
    assert.notEqual(replaced.runId, kept.runId);
    assert.equal(replaced.publish!.decision, 'replaced', replaced.publish!.reason);
    assert.equal(replaced.publish!.champion, replaced.publish!.version);
    const history = readFileSync(join(registry, 'champion-history.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      history.map((h) => [h.action, h.version, h.previous]),
      [
        ['gate', summary.publish!.version, null],
        ['gate', second.publish!.version, summary.publish!.version],
        ['replace-incomparable', replaced.publish!.version, second.publish!.version],
      ],
    );
    assert.equal(history[2].by, replaced.runId);
  });

  it('trains a churn-risk model on the customers and scores exactly them; the churn campaign takes its top 30 %', async () => {
    const churn = summary.model.churn!;
    assert.ok(churn.users > 50 && churn.churnRate > 0 && churn.churnRate < 1, JSON.stringify(churn));
    assert.ok(churn.metrics!.roc_auc > 0.6, `churn AUC ${churn.metrics!.roc_auc}`);
    const version = summary.publish!.versionDir;
    assert.ok(existsSync(join(version, 'churn-model.json')), 'published in the same version');
    // Independently: the customers at the cutoff are the users with a transaction in the 90 days before it.
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      await conn.run(`ATTACH '${summary.extract.database}' AS w (READ_ONLY)`);
      const q = async (sql: string) => (await conn.runAndReadAll(sql)).getRows().map((r) => String(r[0]));
      const customers = await q(
        `SELECT DISTINCT user_id FROM w.events WHERE event = 'transaction'
           AND ts < TIMESTAMP '${summary.cutoff.slice(0, 19)}' AND ts >= TIMESTAMP '${summary.cutoff.slice(0, 19)}' - INTERVAL 90 DAY
           AND user_id IN (SELECT user_id FROM read_parquet('${summary.features.featuresPath}')) ORDER BY 1`,
      );
      const scored = await q(
        `SELECT user_id FROM read_parquet('${summary.scoring!.scoresPath}') WHERE churn_risk IS NOT NULL ORDER BY 1`,
      );
      assert.deepEqual(scored, customers);
      assert.equal(summary.scoring!.churnScored, customers.length);
      // The top 30 % by churn risk, minus those the RFM map calls Lost (the campaign's rule, see sample.json).
      const top30 = await q(
        `SELECT user_id FROM (SELECT user_id, ntile(10) OVER (ORDER BY churn_risk, user_id) AS d
           FROM read_parquet('${summary.scoring!.scoresPath}') WHERE churn_risk IS NOT NULL) WHERE d >= 8
           AND user_id NOT IN (SELECT user_id FROM read_parquet('${summary.segmentsPath}') WHERE rfm_segment = 'Lost') ORDER BY 1`,
      );
      const keep = summary.exports.find((e) => e.campaign === 'keep_customers')!;
      // The campaign's users: the delivered list and its held-out control group (docs/measurement.md).
      const control = keep.parquetPath.replace(/\.parquet$/, '.control.parquet');
      const exported = await q(`SELECT user_id FROM read_parquet(['${keep.parquetPath}', '${control}'])`);
      assert.ok(exported.length > 0);
      assert.deepEqual([...exported].sort(), top30);
      const risks = (await conn.runAndReadAll(`SELECT churn_risk FROM read_parquet('${keep.parquetPath}')`))
        .getRows()
        .map((r) => Number(r[0]));
      assert.ok(
        risks.every((r, i) => i === 0 || r <= risks[i - 1]),
        'ranked by churn risk',
      );
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  });

  it('cross-validates on rolling time splits when the pipeline asks for them', async () => {
    const file = samplePipelineFile('sample_time', (d) => (d.cv = { strategy: 'time', folds: 3 }));
    const s = (await env.client.workflow.execute('retrainWorkflow', {
      taskQueue,
      workflowId: `test-time-${Date.now()}`,
      // Training happens one horizon before the cutoff: a cutoff a horizon after the default keeps the folds in the data.
      args: [{ pipeline: file, cutoff: '2024-05-30T00:00:00Z', trainOnly: true }],
    }).then(forPeople)) as RunSummary;
    assert.equal(s.model.cv!.strategy, 'time');
    assert.equal(s.model.cv!.folds.length, 3);
    assert.ok(s.model.cv!.mean.roc_auc > 0.55 && s.model.cv!.mean.roc_auc <= 1);
    // Each fold validated on the cutoff one horizon after the one it trained on.
    const cvDirs = readdirSync(join(s.runDir, 'cv')).sort();
    assert.deepEqual(cvDirs, ['20240131T000000000Z', '20240301T000000000Z', '20240331T000000000Z']);
    assert.equal(s.exports.length, 0, 'train-only runs export nothing');
  });
  it('trains, publishes and scores with engine boosted (gradient-boosted trees), checkpoint folder cleaned up', async () => {
    const file = samplePipelineFile('sample_boosted', (d) => {
      d.model = { ...(d.model ?? {}), engine: 'boosted', baselines: ['logistic'], boosted: { nRounds: 60 } };
    });
    const s = (await env.client.workflow.execute('retrainWorkflow', {
      taskQueue,
      workflowId: `test-boosted-${Date.now()}`,
      args: [{ pipeline: file, trigger: 'test' }],
    }).then(forPeople)) as RunSummary;
    assert.equal(s.model.engine, 'boosted');
    const h = s.model.holdout!;
    assert.ok(h.roc_auc > 0.6 && h.roc_auc <= 1, `holdout AUC ${h.roc_auc}`);
    assert.ok(h.log_loss > 0 && Number.isFinite(h.log_loss));
    assert.ok(s.model.cv!.folds.length >= 2);
    const models = join(s.runDir, 'models');
    const holdoutModel = readdirSync(models).find((f) => /^boosted-holdout.*\.model\.json$/.test(f));
    assert.ok(holdoutModel, `a boosted holdout model in ${readdirSync(models).join(', ')}`);
    const m = JSON.parse(readFileSync(join(models, holdoutModel), 'utf8'));
    assert.equal(m.engine, 'boosted');
    assert.ok(m.payload.trees.length >= 1 && m.payload.trees.length <= 60);
    assert.ok(!readdirSync(models).some((f) => f.endsWith('.checkpoint')), 'checkpoints removed after training');
    assert.ok(s.scoring && s.scoring.users > 0, 'every featured user scored by the boosted model');
    const scored = await count(
      `SELECT count(*) FROM read_parquet('${s.scoring.scoresPath}') WHERE propensity BETWEEN 0 AND 1`,
    );
    assert.equal(scored, s.scoring.users);
  });
});
