/**
 * The README's schedule flow on the bundled sample, on a real Temporal dev server and real DuckDB: `schedule create`
 * then `schedule trigger` waits for the run and reports its real outcome. The sample's data ends in 2024-05, and its
 * definition has `"clock": "data"`, so a scheduled run's cutoff is the data's last complete day (stated in the
 * summary), not the wall clock. A scheduled run that cannot train fails, and trigger says why and exits as the run
 * ended; `schedule describe` lists each run with its outcome.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeEventsCsv } from '../../data/generator';
import { scheduleCommand } from '../../cli/schedule';
import { runCli } from '../helpers/cli';
import { startServerAndWorker, useTempHome } from '../helpers/temporal';
import { tempDir } from '../helpers/warehouse';

const schedule = (...argv: string[]) => runCli(scheduleCommand, argv);

describe('schedules on the bundled sample (real Temporal + DuckDB)', { timeout: 600_000 }, () => {
  let stop: () => Promise<void>;

  before(async () => {
    useTempHome('funnelcast-schedule-');
    ({ stop } = await startServerAndWorker());
  });

  after(async () => {
    await stop?.();
  });

  it("README: create + trigger on the sample gives a successful run at the data's last day", async () => {
    const created = await schedule(
      'create',
      ...['--pipeline', 'sample', '--every', '1d', '--overlap', 'skip', '--catchup-window', '1d'],
    );
    assert.equal(created.code, 0, created.out);
    const t = await schedule('trigger', '--pipeline', 'sample');
    assert.equal(t.code, 0, t.out);
    assert.match(t.out, /run sample-20240530T000000Z-[0-9a-f]+ COMPLETED/);
    assert.match(t.out, /clock "data": scheduled at \S+; the data's last event is 2024-05-30T00:02/);
    assert.match(t.out, /steps {2}plan .*report/);

    const again = await schedule('trigger', '--pipeline', 'sample', '--json');
    assert.equal(again.code, 0, again.out);
    const j = JSON.parse(again.out);
    assert.equal(j.outcome, 'COMPLETED');
    assert.equal(j.started, false, 'the same data and cutoff: the finished run answers');
    assert.equal(j.summary.cutoff, '2024-05-30T00:00:00.000Z');
    assert.equal(j.summary.trainingCutoff, '2024-04-30T00:00:00.000Z');
    assert.ok(j.summary.scoring.users > 1000 && j.summary.exports.length > 0);
    assert.ok(existsSync(j.summary.reportPath), 'the run wrote its report');

    const d = JSON.parse((await schedule('describe', '--pipeline', 'sample', '--json')).out);
    // In words, in the CLI and in the schedule's note (what the Temporal Web UI shows), not calendar JSON.
    assert.equal(d.inWords, 'every day at 00:00 UTC');
    assert.equal(d.note, 'every day at 00:00 UTC');
    assert.match((await schedule('list')).out, /retrain-sample\s+sample\s+every day at 00:00 UTC/);
    assert.deepEqual(
      (d.recentRuns as { runId: string; outcome: string }[]).map((r) => [r.runId, r.outcome]),
      [
        [j.runId, 'COMPLETED'],
        [j.runId, 'COMPLETED'],
      ],
    );
    assert.equal((await schedule('delete', '--pipeline', 'sample')).code, 0);
  });

  it('a scheduled run that cannot train: trigger says why and exits 3; describe shows FAILED', async () => {
    // Ten days of events and a 30-day horizon: no cutoff has observed outcomes, on any clock.
    const dir = tempDir('fc-short-');
    const start = new Date(Date.now() - 10 * 86_400_000).toISOString();
    await writeEventsCsv(join(dir, 'events.csv'), { users: 300, seed: 5, days: 10, engagement: 5, start });
    const columns = { user_id: 'user_id', ts: 'timestamp', event: 'event', item_id: 'item_id', revenue: 'revenue' };
    writeFileSync(
      join(dir, 'short.json'),
      JSON.stringify({
        name: 'short',
        sources: { events: { path: 'events.csv', columns } },
        label: { event: 'transaction', horizon: '30d' },
        model: { forest: { nTrees: 5 }, baselines: [] },
        cv: { strategy: 'none' },
      }),
    );
    const file = join(dir, 'short.json');
    assert.equal((await schedule('create', '--pipeline', file, '--every', '1d', '--paused')).code, 0);
    const t = await schedule('trigger', '--pipeline', file);
    assert.equal(t.code, 3, t.out);
    assert.match(t.out, /run short-\S+ FAILED/);
    assert.match(t.out, /failed in step features: .*last event \S+.*A scheduled run needs events over more than/);
    const d = JSON.parse((await schedule('describe', '--pipeline', file, '--json')).out);
    assert.equal(d.recentRuns[0].outcome, 'FAILED');
    assert.match(d.recentRuns[0].failure, /^features: .*nothing to train on/);
    const human = (await schedule('describe', '--pipeline', file)).out;
    assert.match(human, /short-\S+ FAILED \(features: /);
  });
});
