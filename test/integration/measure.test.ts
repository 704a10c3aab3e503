/**
 * Closing the loop on a real Temporal dev server and DuckDB: events generated with a campaign of known effect
 * (data/campaign-sim.ts), a run at the send date that delivers the list and holds out its control group, and a
 * later run whose measurement step measures that send. The measured lift must contain the true lift, known
 * exactly from both potential outcomes of every user on the list.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createWorker, type FunnelcastWorker } from '../../worker';
import { projectRoot } from '../../infra/root';
import { paths } from '../../infra/paths';
import { writeEventsCsv } from '../../data/generator';
import { withDuckDB } from '../../warehouse/db';
import { measureRun, type RunMeasurement } from '../../lift/run';
import { loadPipeline } from '../../pipelines/load';
import type { RunSummary } from '../../workflows/types';
import { startTestServer, uniqueQueue, useTempHome } from '../helpers/temporal';
import { forPeople } from '../../cli/edge';

const SENT = '2024-04-01T00:00:00Z';

function definition(dir: string): string {
  const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
  def.name = 'loop';
  def.sources.events.path = join(dir, 'events.csv.gz');
  delete def.churn;
  delete def.export;
  def.cv.folds = 2;
  def.model.forest = { nTrees: 30, maxDepth: 8, minSamplesLeaf: 5 };
  // The later run comes seven weeks and one campaign after the first: tenure and recency move (PSI up to 0.8), which
  // the drift checks would rightly block. Measuring the send is what this test is about, so drift is accepted.
  def.drift = { accept: true };
  def.campaigns = [
    {
      name: 'promo',
      filter: { field: 'propensity_decile', op: 'lte', value: 6 },
      action: 'send the promotion',
      control: { share: 0.5 },
      economics: { currency: 'EUR', costPerContact: 0.2, fixedCost: 50, value: 'label_revenue' },
    },
    {
      name: 'no_holdout',
      filter: { field: 'propensity_decile', op: 'lte', value: 2 },
      action: 'show a banner',
      control: { share: 0 },
    },
  ];
  const file = join(dir, 'loop.json');
  writeFileSync(file, JSON.stringify(def));
  return file;
}

describe('campaign measurement recovers a known lift (real Temporal + DuckDB)', { timeout: 900_000 }, () => {
  let env: TestWorkflowEnvironment;
  let worker: FunnelcastWorker;
  let connection: NativeConnection;
  let running: Promise<void>;
  const taskQueue = uniqueQueue('measure');
  let dir: string;
  let sent: RunSummary;
  let later: RunSummary;

  before(async () => {
    useTempHome();
    dir = mkdtempSync(join(tmpdir(), 'fc-loop-'));
    await writeEventsCsv(join(dir, 'events.csv.gz'), {
      users: 5000,
      seed: 11,
      days: 160,
      engagement: 4,
      campaign: {
        name: 'promo',
        at: SENT,
        windowDays: 30,
        controlShare: 0.5,
        salt: '',
        effects: { A: 0.15, B: 0, C: -0.6 },
      },
    });
    const pipeline = definition(dir);
    env = await startTestServer();
    connection = await NativeConnection.connect({ address: env.address });
    worker = await createWorker({ connection, taskQueue });
    running = worker.run();
    const run = (cutoff: string) =>
      env.client.workflow.execute('retrainWorkflow', {
        taskQueue,
        workflowId: `test-measure-${cutoff}-${Date.now()}`,
        args: [{ pipeline, cutoff, trigger: 'test' }],
      }).then(forPeople) as Promise<RunSummary>;
    sent = await run(SENT);
    later = await run('2024-05-20T00:00:00Z');
  });

  after(async () => {
    worker?.shutdown();
    await running;
    await connection?.close();
    await env?.teardown();
  });

  it('delivers only the treatment users and records the split', () => {
    const promo = sent.exports.find((e) => e.campaign === 'promo')!;
    assert.ok(promo.control && promo.control.share === 0.5 && promo.control.rows > 100, JSON.stringify(promo));
    assert.ok(Math.abs(promo.rows - promo.control.rows) < 0.2 * promo.rows, 'about half held out');
    assert.deepEqual(sent.exports.find((e) => e.campaign === 'no_holdout')!.control, { share: 0, rows: 0 });
  });

  it('backtests each list of a past cutoff against a random list of the same size', async () => {
    const promo = sent.exports.find((e) => e.campaign === 'promo')!;
    const b = promo.backtest!;
    assert.equal(b.realisedRate, promo.realisedConversions! / promo.rows);
    // Independently: the share of all scored users who converted in the horizon.
    const base = await withDuckDB(':memory:', async (conn) =>
      Number(
        (
          await conn.runAndReadAll(
            `SELECT avg(f.label) FROM read_parquet($f) f JOIN read_parquet($s) s USING (user_id)`,
            { f: sent.features.featuresPath, s: sent.segmentsPath! },
          )
        ).getRows()[0][0],
      ),
    );
    assert.ok(Math.abs(b.randomRate - base) < 1e-12, `${b.randomRate} vs ${base}`);
    assert.ok(b.liftOverRandom! > 1, `the top deciles beat a random list: ${b.liftOverRandom}`);
    assert.ok(Math.abs(b.realisedOverExpected! - promo.realisedConversions! / promo.expectedConversions) < 1e-12);
  });

  it("the later run's measurement step measures the send, and its interval contains the true lift", async () => {
    const found = later.measurement!.find((m) => m.runId === sent.runId && m.campaign === 'promo')!;
    assert.equal(found.status, 'measured', JSON.stringify(found));
    const m = JSON.parse(readFileSync(found.measurementPath, 'utf8')) as RunMeasurement;
    const r = m.campaigns.find((c) => c.campaign === 'promo')!.result!;
    const truth = new Map(
      readFileSync(join(dir, 'truth.csv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(','))
        .map(([u, , arm, y0, y1]) => [u, { arm, y0: Number(y0), y1: Number(y1) }]),
    );
    const arms = await withDuckDB(':memory:', async (conn) =>
      (
        await conn.runAndReadAll(`SELECT user_id, arm FROM read_parquet($f)`, {
          f: join(sent.runDir, 'assignments', 'promo.parquet'),
        })
      )
        .getRows()
        .map(([u, arm]) => ({ ...truth.get(String(u))!, u: String(u), arm: String(arm) })),
    );
    // What the events show: y1 for the treatment users, y0 for the control group, counted exactly.
    const t = arms.filter((a) => a.arm === 'treatment');
    const c = arms.filter((a) => a.arm === 'control');
    assert.ok(
      arms.every((a) => a.arm === truth.get(a.u)!.arm),
      "the generator's arms are funnelcast's",
    );
    assert.equal(
      r.treatment.conversions,
      t.reduce((s, a) => s + a.y1, 0),
    );
    assert.equal(
      r.control.conversions,
      c.reduce((s, a) => s + a.y0, 0),
    );
    const trueLift = arms.reduce((s, a) => s + a.y1 - a.y0, 0) / arms.length;
    assert.ok(trueLift > 0.02, `the set effect is visible on the list: ${trueLift}`);
    const l = r.absoluteLift;
    assert.ok(l.low <= trueLift && trueLift <= l.high, `true lift ${trueLift} in [${l.low}, ${l.high}]`);
    assert.ok(l.low > 0, 'and the measured lift is distinguishable from 0');
    assert.equal(r.cost, 50 + 0.2 * r.treatment.users);
    assert.ok(r.cac.value !== null && Math.abs(r.cac.value - r.cost! / r.incrementalConversions.estimate) < 1e-9);
  });

  it('says why a campaign has no lift, and when a recent send can be measured', async () => {
    const none = later.measurement!.find((m) => m.runId === sent.runId && m.campaign === 'no_holdout')!;
    assert.equal(none.status, 'no_control');
    assert.match(none.reason!, /no control group .*lift cannot be measured/);
    const def = loadPipeline(join(dir, 'loop.json')).definition;
    const m = await withDuckDB(paths.warehouse('loop'), (conn) => measureRun(conn, def, later.runId, later.runDir));
    const promo = m.campaigns.find((x) => x.campaign === 'promo')!;
    assert.equal(promo.status, 'pending');
    assert.match(
      promo.reason!,
      /window ends 2024-06-19T00:00:00.000Z; the loaded data ends 2024-06-0.*once events up to/,
    );
    await withDuckDB(paths.warehouse('loop'), (conn) =>
      assert.rejects(
        measureRun(conn, def, 'loop-missing', join(dir, 'nowhere')),
        /run loop-missing has no delivered campaign lists/,
      ),
    );
  });
});
