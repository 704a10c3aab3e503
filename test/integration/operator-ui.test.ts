/**
 * What an operator sees in Temporal and what `funnelcast rerun` does, on a real dev server and real DuckDB:
 * - every run carries the funnelcast search attributes (pipeline, cutoff, kind, engine, outcome), registered by the
 *   worker on a server that lacked them, so `temporal workflow list --query` filters by them;
 * - each training activity has a summary naming its fold and engine ("fold 2/3 · forest");
 * - `rerun <run> --from <step>` runs under a new id recording its origin, reuses the earlier steps' results only
 *   when the inputs are the same (run key), and re-executes everything when the definition changed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { defaultPayloadConverter } from '@temporalio/common';
import { createWorker, type FunnelcastWorker } from '../../worker';
import { TASK_QUEUE, temporalCliForTests } from '../../infra/temporal';
import { writeEventsCsv } from '../../data/generator';
import { runCommand } from '../../cli/run';
import { rerunCommand } from '../../cli/rerun';
import type { RunSummary, TrainResult } from '../../workflows/types';
import { runCli } from '../helpers/cli';
import { startTestServer, until, useTempHome } from '../helpers/temporal';
import { tempDir } from '../helpers/warehouse';

const CUTOFF = '2024-03-01T00:00:00.000Z';

describe(
  'Temporal UI attributes and summaries; rerun from a step (real Temporal + DuckDB)',
  { timeout: 900_000 },
  () => {
    let env: TestWorkflowEnvironment;
    let worker: FunnelcastWorker;
    let connection: NativeConnection;
    let running: Promise<void>;
    let dir: string;
    let origin: RunSummary;

    const definition = (nTrees: number) => {
      const path = join(dir, 'opsui.json');
      writeFileSync(
        path,
        JSON.stringify({
          name: 'opsui',
          sources: {
            events: {
              path: 'events.csv',
              columns: { user_id: 'user_id', ts: 'timestamp', event: 'event', item_id: 'item_id', revenue: 'revenue' },
            },
          },
          label: { event: 'transaction', horizon: '14d' },
          features: { funnel: ['view', 'addtocart', 'transaction'] },
          model: { engine: 'forest', forest: { nTrees }, baselines: ['logistic'] },
          cv: { strategy: 'kfold', folds: 3 },
        }),
      );
      return path;
    };
    const list = async (query: string) => {
      const ids: string[] = [];
      for await (const w of env.client.workflow.list({ query })) ids.push(w.workflowId);
      return ids;
    };
    /** Each activity the run scheduled: its type, its summary (user metadata) and, when it completed, its result. */
    const activities = async (runId: string) => {
      const events = (await env.client.workflow.getHandle(runId).fetchHistory()).events ?? [];
      const byId = new Map<string, { type: string; summary: string | null; result?: unknown }>();
      for (const ev of events) {
        const s = ev.activityTaskScheduledEventAttributes;
        if (s) {
          const p = ev.userMetadata?.summary;
          byId.set(String(ev.eventId), {
            type: s.activityType!.name!,
            summary: p ? defaultPayloadConverter.fromPayload<string>(p) : null,
          });
        }
        const c = ev.activityTaskCompletedEventAttributes;
        if (c?.result?.payloads?.[0])
          byId.get(String(c.scheduledEventId))!.result = defaultPayloadConverter.fromPayload(c.result.payloads[0]);
      }
      return [...byId.values()];
    };
    const rerun = async (runId: string, from: string) => {
      const r = await runCli(rerunCommand, [runId, '--from', from, '--json']);
      assert.equal(r.code, 0, r.out);
      return JSON.parse(r.out) as RunSummary;
    };

    before(async () => {
      useTempHome('funnelcast-opsui-');
      dir = tempDir('fc-opsui-');
      await writeEventsCsv(join(dir, 'events.csv'), {
        users: 1500,
        seed: 7,
        days: 90,
        engagement: 10,
        start: '2024-01-01',
      });
      // A server started without funnelcast's search attributes: the worker registers them.
      env = await startTestServer();
      process.env.TEMPORAL_ADDRESS = env.address;
      connection = await NativeConnection.connect({ address: env.address });
      worker = await createWorker({ connection, taskQueue: TASK_QUEUE });
      running = worker.run();
      const r = await runCli(runCommand, ['--pipeline', definition(12), '--cutoff', CUTOFF, '--json']);
      assert.equal(r.code, 0, r.out);
      origin = JSON.parse(r.out) as RunSummary;
    });

    after(async () => {
      delete process.env.TEMPORAL_ADDRESS;
      worker?.shutdown();
      await running;
      await connection?.close();
      await env?.teardown();
    });

    it('tags runs with pipeline, cutoff, kind, engine and outcome; `temporal workflow list --query` filters by them', async () => {
      const q = `FunnelcastPipeline = 'opsui' AND FunnelcastCutoff >= '${CUTOFF}' AND FunnelcastCutoff < '2024-03-02T00:00:00Z' AND FunnelcastKind = 'live'`;
      const done = `${q} AND FunnelcastEngine = 'forest' AND FunnelcastOutcome = 'succeeded' AND WorkflowType = 'retrainWorkflow'`;
      const ids = await until('the run in the visibility store', 30_000, async () => {
        const found = await list(done);
        return found.length ? found : undefined;
      }).catch(async (e: Error) => {
        const seen = [];
        for await (const w of env.client.workflow.list({ query: `FunnelcastPipeline = 'opsui'` }))
          seen.push({ id: w.workflowId, type: w.type, sa: w.typedSearchAttributes });
        for (const part of q.split(' AND ')) seen.push({ part, n: (await list(part)).length });
        throw new Error(`${e.message}: ${JSON.stringify(seen)}`);
      });
      assert.deepEqual(ids, [origin.runId]);
      assert.deepEqual(await list(`FunnelcastPipeline = 'other'`), []);
      // The Temporal CLI an operator uses.
      const cli = spawnSync(
        temporalCliForTests(),
        ['workflow', 'list', '--address', env.address, '--query', done, '--output', 'json'],
        { encoding: 'utf8' },
      );
      assert.equal(cli.status, 0, cli.stderr);
      assert.match(cli.stdout, new RegExp(origin.runId));
    });

    it('names each training activity by fold and engine', async () => {
      const summaries = (await activities(origin.runId)).filter((a) => a.type === 'trainModel').map((a) => a.summary);
      for (const s of ['fold 1/3 · forest', 'fold 2/3 · forest', 'fold 3/3 · forest', 'holdout · forest'])
        assert.ok(summaries.includes(s), `${s} in ${JSON.stringify(summaries)}`);
      assert.ok(summaries.includes('holdout · logistic (baseline)'), JSON.stringify(summaries));
      assert.equal(new Set(summaries).size, summaries.length, 'no two training activities look alike');
    });

    it('rerun --from publish reuses the folds and holdout models under a new id that records its origin', async () => {
      const again = await rerun(origin.runId, 'publish');
      assert.notEqual(again.runId, origin.runId);
      assert.match(again.runId, /^opsui-20240301T000000Z-[0-9a-f]{10}$/);
      assert.deepEqual(again.rerun, {
        of: origin.runId,
        from: 'publish',
        reused: ['cross-validate', 'train'],
        note: `reused cross-validate, train of ${origin.runId} (same inputs); re-executed from publish`,
      });
      const trained = (await activities(again.runId)).filter((a) => a.type === 'trainModel');
      assert.ok(trained.length >= 5);
      assert.ok(
        trained.every((a) => (a.result as TrainResult).reused === true),
        'no model trained again',
      );
      assert.ok(
        trained.every((a) => !(a.result as TrainResult).modelPath?.includes(origin.runId)),
        'own paths',
      );
      assert.equal(again.model.holdout?.roc_auc, origin.model.holdout?.roc_auc);
      assert.notEqual(again.publish!.version, origin.publish!.version, 'publish re-executed: a new version');
      // The same model re-published against itself as champion: a difference of 0 is within noise, and said so.
      const noise = again.publish!.warnings!.find((w) => w.kind === 'auc-difference-within-noise');
      assert.ok(noise, JSON.stringify(again.publish!.warnings));
      assert.match(noise.message, /95% CI \[\+0\.000, \+0\.000\] \(DeLong\)/);
      await until(
        'the rerun tagged as such',
        30_000,
        async () =>
          (await list(`FunnelcastKind = 'rerun' AND FunnelcastOutcome = 'succeeded'`)).includes(again.runId) ||
          undefined,
      );

      // From score: the origin's publish decision is reused too (no new version), and scoring runs again.
      const scored = await rerun(origin.runId, 'score');
      assert.deepEqual(scored.rerun!.reused, ['cross-validate', 'train', 'publish']);
      assert.equal(scored.publish!.version, origin.publish!.version);
      assert.ok(!(await activities(scored.runId)).some((a) => a.type === 'publishModel'));
      assert.ok(scored.scoring && scored.scoring.users === origin.scoring!.users);
    });

    it('rerun after the definition changed reuses nothing and says why', async () => {
      definition(13);
      const changed = await rerun(origin.runId, 'publish');
      assert.deepEqual(changed.rerun!.reused, []);
      assert.match(changed.rerun!.note, /inputs changed since .* every step re-executed/);
      const trained = (await activities(changed.runId)).filter((a) => a.type === 'trainModel');
      assert.ok(trained.every((a) => !(a.result as TrainResult).reused));
    });
  },
);
