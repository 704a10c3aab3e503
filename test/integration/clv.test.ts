/**
 * Customer lifetime value in a real run (real Temporal dev server, real DuckDB): the CDNOW pipeline fits
 * BG/NBD + Gamma-Gamma at its cutoff, backtests them at its training cutoff (1997-10-01, where the published
 * `lifetimes` fits hold) against the 39-week holdout, and a campaign ranks its list by CLV. A population whose
 * spend model cannot be fitted fails the run before anything is published.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createWorker, type FunnelcastWorker } from '../../worker';
import { projectRoot } from '../../infra/root';
import { paths } from '../../infra/paths';
import { withDuckDB } from '../../warehouse/db';
import type { RunSummary } from '../../workflows/types';
import { startTestServer, uniqueQueue, useTempHome } from '../helpers/temporal';
import { forPeople } from '../../cli/edge';

const elog = join(projectRoot(), '..', 'shared', 'datasets', 'cdnow', 'cdnowElog.csv');
const noShared = !existsSync(elog) && `the CDNOW event log is absent (${elog})`;
const rel = (a: number, b: number) => Math.abs(a - b) / b;

/** The bundled CDNOW definition with an absolute source path and a lighter model (the CLV part is unchanged). */
function cdnowFile(): string {
  const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'cdnow.json'), 'utf8'));
  def.name = 'cdnow_clv';
  def.sources.events.path = elog;
  def.model.forest = { nTrees: 30, maxDepth: 6 };
  def.cv = { strategy: 'none' };
  const file = join(mkdtempSync(join(tmpdir(), 'fc-clv-')), 'cdnow_clv.json');
  writeFileSync(file, JSON.stringify(def));
  return file;
}

/** 300 users who view; 90 of them buy exactly once, in the month before the cutoff: no customer ever repeats. */
function noRepeatFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fc-clv-norepeat-'));
  const lines = ['user_id,timestamp,event,revenue'];
  for (let u = 0; u < 300; u++) {
    for (let d = 0; d < 6; d++)
      lines.push(`u${u},2024-0${1 + (d % 5)}-${String(3 + ((u + d * 5) % 24)).padStart(2, '0')}T10:00:00Z,view,`);
    if (u % 10 < 3)
      lines.push(`u${u},2024-04-${String(2 + (u % 25)).padStart(2, '0')}T12:00:00Z,purchase,${10 + (u % 7)}`);
  }
  writeFileSync(join(dir, 'events.csv'), lines.join('\n') + '\n');
  const def = {
    name: 'norepeat',
    sources: {
      events: {
        path: join(dir, 'events.csv'),
        columns: { user_id: 'user_id', ts: 'timestamp', event: 'event', revenue: 'revenue' },
        eventTypes: ['view', 'purchase'],
      },
    },
    label: { event: 'purchase', horizon: '30d' },
    clv: { horizon: '12w' },
    defaultCutoff: '2024-05-01T00:00:00Z',
    model: { engine: 'forest', forest: { nTrees: 10 }, baselines: [] },
    cv: { strategy: 'none' },
  };
  writeFileSync(join(dir, 'norepeat.json'), JSON.stringify(def));
  return join(dir, 'norepeat.json');
}

describe('customer lifetime value in a run (real Temporal + DuckDB)', { timeout: 600_000 }, () => {
  let env: TestWorkflowEnvironment;
  let worker: FunnelcastWorker;
  let connection: NativeConnection;
  let running: Promise<void>;
  const taskQueue = uniqueQueue('clv');

  before(async () => {
    useTempHome();
    env = await startTestServer();
    connection = await NativeConnection.connect({ address: env.address });
    worker = await createWorker({ connection, taskQueue });
    running = worker.run();
  });

  after(async () => {
    worker?.shutdown();
    await running;
    await connection?.close();
    await env?.teardown();
  });

  it(
    'CDNOW: the backtest at 1997-10-01 reproduces lifetimes, and a list ranks by CLV',
    { skip: noShared },
    async () => {
      const s: RunSummary = await env.client.workflow.execute('retrainWorkflow', {
        taskQueue,
        workflowId: `test-clv-${Date.now()}`,
        args: [{ pipeline: cdnowFile(), trigger: 'test' }],
      }).then(forPeople);
      const c = s.clv!;
      assert.ok(c, 'the summary carries the CLV fit');
      assert.equal(c.customers, 2357);
      const v = c.validation!;
      assert.ok(v, 'the data covers 39 weeks after the training cutoff, so the backtest ran');
      assert.equal(v.cutoff, '1997-10-01T00:00:00.000Z');
      const published = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426, p: 6.25, q: 3.74, v: 15.45 };
      const fitted = { ...v.bgnbd, ...v.gammaGamma } as Record<string, number>;
      for (const [k, want] of Object.entries(published))
        assert.ok(rel(fitted[k], want) < 0.01, `${k}: ${fitted[k]} vs ${want}`);
      assert.equal(
        v.buckets.reduce((n, b) => n + b.customers, 0),
        2357,
      );
      // lifetimes' expected repeat purchases over 39 weeks, summed over the 2,357 customers: 1,653.0 (bench clv).
      const predicted = v.buckets.reduce((n, b) => n + b.predicted * b.customers, 0);
      assert.ok(rel(predicted, 1653.0) < 0.005, `predicted ${predicted}`);
      await withDuckDB(':memory:', async (conn) => {
        const [[n, bad, pmin, pmax]] = (
          await conn.runAndReadAll(
            `SELECT count(*), count(*) FILTER (WHERE clv IS NULL OR isnan(clv) OR clv < 0), min(p_alive), max(p_alive) FROM read_parquet($f)`,
            { f: c.clvPath },
          )
        ).getRows();
        assert.equal(Number(n), 2357);
        assert.equal(Number(bad), 0);
        assert.ok(Number(pmin) >= 0 && Number(pmax) <= 1);
        const list = s.exports.find((e) => e.campaign === 'most_valuable')!;
        const rows = (
          await conn.runAndReadAll(`SELECT clv, p_alive FROM read_parquet($f)`, { f: list.parquetPath })
        ).getRows();
        // The campaign's top 200, less its control group (10 % by default, held out and never delivered).
        assert.equal(rows.length + list.control!.rows, 200);
        assert.ok(list.control!.rows > 0 && list.control!.share === 0.1);
        for (let i = 1; i < rows.length; i++) assert.ok(Number(rows[i - 1][0]) >= Number(rows[i][0]), 'ranked by clv');
        assert.ok(rows.every((r) => Number(r[1]) >= 0.5));
      });
      const report = readFileSync(s.reportPath!, 'utf8');
      assert.match(report, /Customer lifetime value/);
      assert.match(report, /Backtest: fitted at 1997-10-01/);
    },
  );

  it('a spend model that cannot be fitted fails the run before anything is published', async () => {
    await assert.rejects(
      env.client.workflow.execute('retrainWorkflow', {
        taskQueue,
        workflowId: `test-clv-norepeat-${Date.now()}`,
        args: [{ pipeline: noRepeatFile(), trigger: 'test' }],
      }).then(forPeople),
      (e: Error) => {
        assert.ok(e instanceof WorkflowFailedError);
        const cause = e.cause as (Error & { cause?: Error }) | undefined;
        const msg = String(cause?.cause?.message ?? cause?.message);
        assert.match(msg, /CLV at 2024-05-01.* not published: Gamma-Gamma: 0 customers with repeat purchases/);
        return true;
      },
    );
    const versions = join(paths.registry('norepeat'), 'versions');
    assert.ok(!existsSync(versions) || readdirSync(versions).length === 0, 'no version was published');
  });
});
