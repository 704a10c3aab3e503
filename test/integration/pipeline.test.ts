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
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DuckDBInstance } from '@duckdb/node-api';
import { createWorker } from '../../worker';
import { projectRoot } from '../../infra/root';
import type { RunSummary } from '../../workflows/types';
import { startTestServer, uniqueQueue, useTempHome } from '../helpers/temporal';

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

describe('retrain pipeline on the bundled sample (real Temporal + DuckDB)', { timeout: 600_000 }, () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let connection: NativeConnection;
  let running: Promise<void>;
  const taskQueue = uniqueQueue('pipeline');
  let summary: RunSummary;

  before(async () => {
    useTempHome();
    env = await startTestServer();
    connection = await NativeConnection.connect({ address: env.address });
    worker = await createWorker({ connection, taskQueue });
    running = worker.run();
    summary = await env.client.workflow.execute('retrainWorkflow', {
      taskQueue,
      workflowId: `test-pipeline-${Date.now()}`,
      args: [{ pipeline: 'sample', trigger: 'test' }],
    });
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
      summary.features.users,
    );
  });

  it('publishes a model version whose manifest checksums match the files', () => {
    const p = summary.publish!;
    assert.ok(p.version.startsWith('v0001'));
    assert.equal(p.decision, 'first');
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

  it('gates a second model against the champion on the same held-out users and shows it in the report', async () => {
    const s = (await env.client.workflow.execute('retrainWorkflow', {
      taskQueue,
      workflowId: `test-second-${Date.now()}`,
      args: [{ pipeline: 'sample', cutoff: '2024-04-20T00:00:00Z', trigger: 'test', trainOnly: true }],
    })) as RunSummary;
    const c = s.publish!.comparison!;
    assert.equal(c.version, summary.publish!.version);
    assert.equal(c.sameRows, true);
    assert.equal(c.metric, 'roc_auc');
    assert.equal(c.metrics.n, s.model.holdout!.n, "the champion was scored on exactly the new model's held-out users");
    assert.ok(c.metrics.roc_auc > 0.5 && c.metrics.roc_auc <= 1);
    const promoted = s.model.holdout!.roc_auc >= c.metrics.roc_auc - c.tolerance;
    assert.equal(s.publish!.decision, promoted ? 'promoted' : 'challenger');
    const report = readFileSync(s.reportPath!, 'utf8');
    assert.ok(report.includes(`previous champion <code>${c.version}</code> on the same held-out users`));
    assert.ok(report.includes(`champion ${c.version} (AUC ${c.metrics.roc_auc.toFixed(3)})`));
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
      const top30 = await q(
        `SELECT user_id FROM (SELECT user_id, ntile(10) OVER (ORDER BY churn_risk, user_id) AS d
           FROM read_parquet('${summary.scoring!.scoresPath}') WHERE churn_risk IS NOT NULL) WHERE d >= 8 ORDER BY 1`,
      );
      const keep = summary.exports.find((e) => e.campaign === 'keep_customers')!;
      const exported = await q(`SELECT user_id FROM read_csv('${keep.csvPath}')`);
      assert.deepEqual([...exported].sort(), top30);
      const risks = (await conn.runAndReadAll(`SELECT churn_risk FROM read_csv('${keep.csvPath}')`))
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
    const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
    def.name = 'sample_time';
    def.sources.events.path = join(projectRoot(), 'data', 'sample', 'events.csv.gz');
    def.cv = { strategy: 'time', folds: 3 };
    const file = join(mkdtempSync(join(tmpdir(), 'fc-time-')), 'sample_time.json');
    writeFileSync(file, JSON.stringify(def));
    const s = (await env.client.workflow.execute('retrainWorkflow', {
      taskQueue,
      workflowId: `test-time-${Date.now()}`,
      args: [{ pipeline: file, trainOnly: true }],
    })) as RunSummary;
    assert.equal(s.model.cv!.strategy, 'time');
    assert.equal(s.model.cv!.folds.length, 3);
    assert.ok(s.model.cv!.mean.roc_auc > 0.55 && s.model.cv!.mean.roc_auc <= 1);
    // Each fold validated on the cutoff one horizon after the one it trained on.
    const cvDirs = readdirSync(join(s.runDir, 'cv')).sort();
    assert.deepEqual(cvDirs, ['20240131T000000000Z', '20240301T000000000Z', '20240331T000000000Z']);
    assert.equal(s.exports.length, 0, 'train-only runs export nothing');
  });
});
