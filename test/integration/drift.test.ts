/**
 * Issue 24, drift checks before publishing, on a real Temporal dev server: after a champion is trained, a run on
 * the same data (another seed) passes the checks and publishes; events appended to the source that shift
 * behaviour (a burst of views for a third of the users before the training cutoff) block the next run before it
 * publishes or delivers, naming the features and PSI, with drift.html charts; `--accept-drift` (acceptDrift)
 * publishes anyway and the champion history records the accepted drift. The same for the scores before delivery:
 * the accepted score drift is an accept-drift entry of the history, and report.html charts the score distribution.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import { createWorker, type FunnelcastWorker } from '../../worker';
import { projectRoot } from '../../infra/root';
import { paths } from '../../infra/paths';
import { ModelRegistry } from '../../registry';
import type { RunSummary } from '../../workflows/types';
import { startTestServer, uniqueQueue, useTempHome } from '../helpers/temporal';
import { forPeople } from '../../cli/edge';

const CUTOFF = '2024-04-30T00:00:00Z';

describe('drift checks before publish (real Temporal + DuckDB)', { timeout: 900_000 }, () => {
  let env: TestWorkflowEnvironment;
  let worker: FunnelcastWorker;
  let connection: NativeConnection;
  let running: Promise<void>;
  const taskQueue = uniqueQueue('drift');
  let dir: string;
  let events: string;

  /** The sample definition (same name, so one warehouse and registry) with this seed, over the CSV copy. */
  const pipeline = (seed: number, over: { drift?: object; forest?: object } = {}) => {
    const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
    def.name = 'drift_sample';
    def.sources.events.path = events;
    def.model.seed = seed;
    def.model.forest = over.forest ?? { nTrees: 20, maxDepth: 8, minSamplesLeaf: 5 };
    def.registry = { primaryMetric: 'roc_auc', tolerance: 1, replaceIncomparable: true };
    if (over.drift) def.drift = over.drift;
    delete def.export;
    const file = join(dir, `drift_sample-${seed}.json`);
    writeFileSync(file, JSON.stringify(def));
    return file;
  };
  const run = (seed: number, extra: Record<string, unknown> = {}, over: Parameters<typeof pipeline>[1] = {}) =>
    env.client.workflow
      .execute('retrainWorkflow', {
        taskQueue,
        workflowId: `test-drift-${seed}-${Date.now()}`,
        args: [{ pipeline: pipeline(seed, over), trigger: 'test', cutoff: CUTOFF, ...extra }],
      })
      .then(forPeople) as Promise<RunSummary>;

  before(async () => {
    useTempHome();
    dir = mkdtempSync(join(tmpdir(), 'fc-drift-'));
    events = join(dir, 'events.csv');
    writeFileSync(events, gunzipSync(readFileSync(join(projectRoot(), 'data', 'sample', 'events.csv.gz'))));
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

  it('unchanged data passes; shifted data is blocked naming what moved; --accept-drift publishes, recorded', async () => {
    const first = await run(1);
    const registry = new ModelRegistry(paths.registry('drift_sample'));
    assert.equal(registry.champion()?.version, first.publish!.version);

    // The same data (another seed, so another run): nothing moved, the run publishes and delivers its lists.
    const same = await run(2);
    assert.ok(same.scoring, 'the unchanged run scored and made its lists');
    const sameDrift = JSON.parse(readFileSync(join(same.runDir, 'drift.json'), 'utf8'));
    assert.equal(sameDrift.message, 'no drift');
    assert.equal(same.drift?.level, 'ok');

    // A third of the users suddenly view 30 more items in the month before the training cutoff (2024-03-31).
    const lines: string[] = [];
    for (let u = 0; u < 4000; u += 3)
      for (let k = 0; k < 30; k++) {
        const ts = new Date(Date.parse('2024-03-02T00:00:00Z') + ((u * 37 + k * 86_400_000) % (28 * 86_400_000)));
        lines.push(`u${String(u).padStart(6, '0')},${ts.toISOString()},view,shift${k},,shift-u${u}-s${k}`);
      }
    appendFileSync(events, lines.join('\n') + '\n');
    const versionsBefore = registry.versions().length;
    const blocked = await run(3).then(
      () => assert.fail('the shifted run published'),
      (e: unknown) => e,
    );
    assert.ok(blocked instanceof WorkflowFailedError);
    const message = String((blocked.cause as Error).message);
    assert.match(message, /drift checks blocked publishing and delivery: blocked: /);
    assert.match(message, /n_view_total PSI \d\.\d{3} \(block\)/);
    assert.equal(registry.versions().length, versionsBefore, 'nothing was published');
    // The message names the chart by its store key (payloads carry keys): a person's CLI resolves it in the home.
    const runDir = forPeople(/charts in (\S+)\)/.exec(message)![1]);
    assert.ok(existsSync(runDir));
    assert.match(readFileSync(runDir, 'utf8'), /<svg[^>]+aria-label="n_view_total"/);

    const accepted = await run(3, { acceptDrift: true });
    assert.ok(accepted.scoring, 'accepted drift publishes and delivers');
    assert.equal(accepted.drift?.accepted, true, 'the summary says the drift was accepted');
    // The pointer's move (its scores moved too, so an accept-drift entry for the scores may follow it).
    const last = registry
      .history()
      .filter((h) => h.action !== 'accept-drift')
      .at(-1)!;
    assert.equal(last.version, accepted.publish!.version);
    assert.match(last.reason, /drift accepted \(--accept-drift\): blocked: .*n_view_total PSI/);
    assert.ok(accepted.drift?.score, 'the accepted run compared its scores with the champion before delivery');

    // Before delivery, the scores against the champion's: the same data (features unchanged) scored by a much
    // coarser forest moves the score distribution, and a definition with a tight score threshold stops the lists.
    const coarse = {
      drift: { warnPsi: 50, blockPsi: 100, scoreWarnPsi: 0.00001, scoreBlockPsi: 0.00002 },
      forest: { nTrees: 3, maxDepth: 2, minSamplesLeaf: 50 },
    };
    const held = await run(4, {}, coarse).then(
      () => assert.fail('the run whose scores moved delivered its lists'),
      (e: unknown) => e,
    );
    assert.ok(held instanceof WorkflowFailedError);
    const heldMessage = String((held.cause as Error).message);
    assert.match(heldMessage, /drift checks blocked delivery: blocked: score PSI \d\.\d{3} \(block\)/);
    const chart = forPeople(/chart in (\S+)\)/.exec(heldMessage)![1]); // a store key, as above
    assert.match(readFileSync(chart, 'utf8'), /<svg[^>]+aria-label="score"/);
    assert.ok(!existsSync(join(dirname(chart), 'segments.parquet')), 'no list was built');
    const delivered = await run(4, { acceptDrift: true }, coarse);
    assert.ok(delivered.scoring && delivered.exports?.length, 'accepted score drift delivers');
    assert.equal(delivered.drift?.score?.accepted, true);
    assert.equal(delivered.drift?.score?.level, 'block');
    // The accepted score drift is in the champion history (the pointer did not move for it), by this run.
    const scoreAccepted = registry.history().at(-1)!;
    assert.equal(scoreAccepted.action, 'accept-drift');
    assert.equal(scoreAccepted.by, delivered.runId);
    assert.equal(scoreAccepted.version, delivered.scoring!.modelVersion);
    assert.match(
      scoreAccepted.reason,
      /score drift accepted before delivery \(--accept-drift\): blocked: score PSI \d\.\d{3}/,
    );
    // And report.html shows the score distribution against the delivered lists', and says it was accepted.
    const report = readFileSync(delivered.reportPath!, 'utf8');
    const section = report.slice(report.indexOf('<h2>Drift</h2>'), report.indexOf('<h2>Lineage</h2>'));
    assert.match(section, /<svg[^>]+aria-label="score"/);
    assert.match(section, /Score distribution: this run against the last delivered lists/);
    assert.match(section, /Accepted with --accept-drift/);
  });
});
