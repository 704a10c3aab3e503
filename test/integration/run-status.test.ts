/**
 * What an operator sees of runs on a real Temporal dev server and real DuckDB: `status` of a failed run names the
 * step, the error and the attempts and exits 1; a cancelled run exits 5 and a second cancel says it already is;
 * a backfill shows cutoffs done / total and the current runs' steps while it runs (in the CLI and in `status`);
 * `status --json` of a finished run carries its summary and step times; `runs list` has the operator's columns.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../infra/root';
import { tempDir } from '../helpers/warehouse';
import { NativeConnection } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createWorker, type FunnelcastWorker } from '../../worker';
import { TASK_QUEUE } from '../../infra/temporal';
import { loadPipeline } from '../../pipelines/load';
import { backfillCommand, backfillWorkflowId, expandCutoffs } from '../../cli/backfill';
import { cancelCommand, runsCommand, statusCommand, type RunRow } from '../../cli/runs';
import { runCli } from '../helpers/cli';
import { startTestServer, until, useTempHome } from '../helpers/temporal';
import { forPeople } from '../../cli/edge';

describe('status, cancel, runs list and backfill progress (real Temporal + DuckDB)', { timeout: 600_000 }, () => {
  let env: TestWorkflowEnvironment;
  let worker: FunnelcastWorker;
  let connection: NativeConnection;
  let running: Promise<void>;

  before(async () => {
    useTempHome('funnelcast-status-');
    // Faults are read at call time: wrap the activities now, inject a failure only in the test that wants one.
    process.env.FUNNELCAST_FAULTS = 'none:transient:0';
    env = await startTestServer();
    process.env.TEMPORAL_ADDRESS = env.address;
    connection = await NativeConnection.connect({ address: env.address });
    worker = await createWorker({ connection, taskQueue: TASK_QUEUE });
    running = worker.run();
  });

  after(async () => {
    delete process.env.TEMPORAL_ADDRESS;
    delete process.env.FUNNELCAST_FAULTS;
    worker?.shutdown();
    await running;
    await connection?.close();
    await env?.teardown();
  });

  it('a failed run: status names the step, the error and the attempts and exits 1', async () => {
    process.env.FUNNELCAST_FAULTS = 'buildFeatures:transient:99';
    try {
      const handle = await env.client.workflow.start('retrainWorkflow', {
        taskQueue: TASK_QUEUE,
        workflowId: 'failing-run',
        args: [{ pipeline: 'sample', trainOnly: true }],
      });
      await assert.rejects(handle.result());
    } finally {
      process.env.FUNNELCAST_FAULTS = 'none:transient:0';
    }
    const s = await runCli(statusCommand, ['failing-run']);
    assert.equal(s.code, 1, s.out);
    assert.match(s.out, /FAILED/);
    assert.match(s.out, /failed in step features \(buildFeatures, 5 attempts\): injected transient failure/);
    const j = JSON.parse((await runCli(statusCommand, ['failing-run', '--json'])).out);
    assert.deepEqual([j.failure.step, j.failure.activity, j.failure.attempts], ['features', 'buildFeatures', 5]);
    // Its history's health: the activity that took 5 attempts, and nothing else.
    assert.deepEqual(j.health, {
      workflowTaskTimeouts: 0,
      workflowTaskFailures: 0,
      activityTimeouts: 0,
      retriedActivities: 1,
    });
    assert.match(
      s.out,
      /health {2}0 workflow-task timeouts, 0 workflow-task failures, 0 activity timeouts, 1 activities retried/,
    );
    assert.equal((await runCli(statusCommand, ['no-such-run'])).code, 4);
  });

  it('a cancelled run: status exits 5; a second cancel says it is already cancelled', async () => {
    process.env.FUNNELCAST_FAULTS = 'buildFeatures:transient:99';
    try {
      const handle = await env.client.workflow.start('retrainWorkflow', {
        taskQueue: TASK_QUEUE,
        workflowId: 'cancelled-run',
        args: [{ pipeline: 'sample', trainOnly: true }],
      });
      // While the step is being retried, status says so.
      await until('a retry', 60_000, async () => {
        const r = await runCli(statusCommand, ['cancelled-run']);
        return /retrying buildFeatures \(attempt [2-9]\)/.test(r.out) ? r : undefined;
      });
      const first = await runCli(cancelCommand, ['cancelled-run']);
      assert.equal(first.code, 0);
      assert.match(first.out, /Cancelled cancelled-run in [\d.]+ s, during step features/);
      await assert.rejects(handle.result());
    } finally {
      process.env.FUNNELCAST_FAULTS = 'none:transient:0';
    }
    const s = await runCli(statusCommand, ['cancelled-run']);
    assert.equal(s.code, 5, s.out);
    assert.match(s.out, /CANCELLED[\s\S]*cancelled during step features/);
    const again = await runCli(cancelCommand, ['cancelled-run']);
    assert.equal(again.code, 0);
    assert.match(again.out, /already cancelled/);
  });

  it('a backfill shows live progress; finished runs show summary, step times and the runs list columns', async () => {
    const args = ['--pipeline', 'sample', '--from', '2024-03-01', '--to', '2024-03-15', '--every', '2w'];
    const loaded = loadPipeline('sample');
    const id = backfillWorkflowId('sample', loaded.hash, expandCutoffs('2024-03-01', '2024-03-15', '2w'), '2w');
    let stderr = '';
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof process.stderr.write;
    let result: Promise<{ code: number; out: string }>;
    let seen: string;
    try {
      result = runCli(backfillCommand, [...args, '--concurrency', '2', '--train-only']);
      seen = await until('status of the running backfill to show a step', 180_000, async () => {
        const r = await runCli(statusCommand, [id]).catch(() => ({ out: '' }));
        return /0\/2 cutoffs done · running: 2024-03-\d\d (features|cross-validate|train)/.test(r.out)
          ? r.out
          : undefined;
      });
      assert.equal((await result).code, 0);
    } finally {
      process.stderr.write = write;
    }
    assert.doesNotMatch(seen, /undefined/);
    assert.match(stderr, /… \d\/2 cutoffs done · running: 2024-03-\d\d \w+/, 'the CLI printed live progress');
    assert.match(stderr, /… 2\/2 cutoffs done/);

    const runId = loaded.definition.name && (await env.client.workflow.getHandle(id).result().then(forPeople))[0].runId;
    const j = JSON.parse((await runCli(statusCommand, [runId, '--json'])).out);
    assert.equal(j.status, 'COMPLETED');
    assert.equal(j.summary.runId, runId);
    assert.ok(j.summary.model.holdout.roc_auc > 0.5);
    // A clean run, with its parent's history (the backfill) counted in: nothing timed out or was retried.
    assert.deepEqual(j.health, {
      workflowTaskTimeouts: 0,
      workflowTaskFailures: 0,
      activityTimeouts: 0,
      retriedActivities: 0,
    });
    const steps = Object.fromEntries((j.steps as { step: string; seconds: number }[]).map((t) => [t.step, t]));
    for (const step of ['plan', 'features', 'cross-validate', 'train', 'publish', 'report'])
      assert.ok(steps[step]?.seconds >= 0, `step ${step} has a time (${JSON.stringify(j.steps)})`);

    const rows = await until('runs list to show the 4 runs', 30_000, async () => {
      const r = JSON.parse((await runCli(runsCommand, ['list', '--json'])).out) as RunRow[];
      return r.length >= 5 ? r : undefined;
    });
    const byId = Object.fromEntries(rows.map((r) => [r.run, r]));
    const run = byId[runId];
    assert.deepEqual(
      [run.pipeline, run.cutoff, run.kind, run.engine, run.outcome, run.metric?.name],
      ['sample', '2024-03-01T00:00:00.000Z', 'backfill', 'forest', 'COMPLETED', 'roc_auc'],
    );
    assert.ok(run.metric!.value! > 0.5 && run.seconds > 0);
    assert.equal(byId['failing-run'].outcome, 'FAILED');
    assert.match(byId['failing-run'].failure!, /^features: injected transient failure/);
    assert.equal(byId['cancelled-run'].outcome, 'CANCELLED');
    assert.equal(byId[id].kind, 'backfill');
    const table = (await runCli(runsCommand, ['list'])).out;
    assert.match(table, /pipeline\s+cutoff\s+kind\s+engine\s+outcome\s+duration\s+metric\s+failure/);
    const done = await runCli(cancelCommand, [runId]);
    assert.equal(done.code, 1);
    assert.match(done.out, /already finished \(completed\)/);
  });
  it("exit codes: one walk through the README's table, each documented code produced by a real command", async () => {
    const readme = readFileSync(join(projectRoot(), 'README.md'), 'utf8');
    const table = /\*\*Exit codes\.\*\* (.*?)\.\n/s.exec(readme)![1];
    const documented = [...table.matchAll(/(\d) ([a-z ]+)/g)].map((m) => Number(m[1]));
    // The spawned binary for what fails before any server is reached (usage, a bad definition).
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [join(projectRoot(), 'bin', 'funnelcast.js'), ...args], {
        encoding: 'utf8',
        env: { ...process.env, FUNNELCAST_HOME: tempDir('fc-exit-') },
      }).status;
    const bad = join(tempDir('fc-exit-def-'), 'bad.json');
    writeFileSync(bad, JSON.stringify({ name: 'bad', label: { event: 'x', horizon: 'soon' } }));
    const finished = (JSON.parse((await runCli(runsCommand, ['list', '--json'])).out) as RunRow[]).find(
      (r) => r.outcome === 'COMPLETED',
    )!.run;
    const walked: Record<number, number> = {
      0: (await runCli(statusCommand, [finished])).code,
      1: (await runCli(statusCommand, ['failing-run'])).code,
      2: cli('status', '--bogus')!,
      3: cli('run', '--pipeline', bad)!,
      4: (await runCli(statusCommand, ['no-such-run'])).code,
      5: (await runCli(statusCommand, ['cancelled-run'])).code,
    };
    assert.deepEqual(documented, [0, 1, 2, 3, 4, 5], table);
    for (const code of documented) assert.equal(walked[code], code, `exit code ${code} (${table})`);
  });
});
