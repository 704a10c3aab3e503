/**
 * Schedules on data that does not reach the scheduled time, on a real Temporal dev server and real DuckDB (the
 * bundled sample's live mode, through the README's own commands, is test/integration/readme-operator.test.ts):
 * a feed that lags the clock trains one horizon before its last day and says so; data too short to train on fails
 * the scheduled run, and trigger says why (the data's last event, what the schedule needs) and exits 3;
 * `schedule describe` lists each run with its outcome.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeEventsCsv } from '../../data/generator';
import { scheduleCommand } from '../../cli/schedule';
import { runCli } from '../helpers/cli';
import { startServerAndWorker, useTempHome } from '../helpers/temporal';
import { tempDir } from '../helpers/warehouse';

const schedule = (...argv: string[]) => runCli(scheduleCommand, argv);
const DAY = 86_400_000;
const columns = { user_id: 'user_id', ts: 'timestamp', event: 'event', item_id: 'item_id', revenue: 'revenue' };
/** A small, quick definition of events.csv beside it, on the wall clock. */
const small = (name: string) => ({
  name,
  sources: { events: { path: 'events.csv', columns } },
  label: { event: 'transaction', horizon: '30d' },
  model: { forest: { nTrees: 5 }, baselines: [] },
  cv: { strategy: 'none' },
});

describe(
  'schedules on data that stops before the scheduled time (real Temporal + DuckDB)',
  { timeout: 600_000 },
  () => {
    let stop: () => Promise<void>;

    before(async () => {
      useTempHome('funnelcast-schedule-');
      ({ stop } = await startServerAndWorker());
    });

    after(async () => {
      await stop?.();
    });

    it('a scheduled run on data that stops before the cutoff trains one horizon before its last day, and says so', async () => {
      // 80 days of events ending 12 days ago (a feed that lags the clock): no labels yet at the scheduled time.
      const dir = tempDir('fc-lag-');
      const start = new Date(Math.floor(Date.now() / DAY) * DAY - 92 * DAY).toISOString();
      await writeEventsCsv(join(dir, 'events.csv'), { users: 1500, seed: 3, days: 80, engagement: 8, start });
      writeFileSync(join(dir, 'lag.json'), JSON.stringify(small('lag')));
      const file = join(dir, 'lag.json');
      assert.equal((await schedule('create', '--pipeline', file, '--every', '1d', '--paused')).code, 0);
      const t = await schedule('trigger', '--pipeline', file, '--json');
      assert.equal(t.code, 0, t.out);
      const j = JSON.parse(t.out);
      assert.equal(j.outcome, 'COMPLETED');
      const last = Date.parse(j.summary.extract.maxTs);
      assert.ok(Date.now() - last > 11 * DAY, j.summary.extract.maxTs);
      assert.ok(Date.now() - Date.parse(j.summary.cutoff) < 3_600_000, 'the cutoff is the scheduled time');
      assert.equal(j.summary.trainingCutoff, new Date(Math.floor(last / DAY) * DAY - 30 * DAY).toISOString());
      assert.match(
        j.summary.cutoffNote,
        new RegExp(
          `the data's last event is ${j.summary.extract.maxTs.replace(/\./g, '\\.')}, so outcomes are observed until`,
        ),
      );
      const human = (await schedule('trigger', '--pipeline', file)).out;
      assert.match(human, /the model trains at \S+, one horizon \(30d\) before that/);
      assert.doesNotMatch(human, /one horizon before the cutoff/);
      // In words, in the CLI and in the schedule's note (what the Temporal Web UI shows), not calendar JSON.
      const d = JSON.parse((await schedule('describe', '--pipeline', file, '--json')).out);
      assert.equal(d.inWords, 'every day at 00:00 UTC');
      assert.equal(d.note, 'every day at 00:00 UTC (created paused)');
      assert.deepEqual(
        (d.recentRuns as { outcome: string }[]).map((r) => r.outcome),
        ['COMPLETED', 'COMPLETED'],
      );
    });

    it('a scheduled run that cannot train: trigger says why and exits 3; describe shows FAILED', async () => {
      // Ten days of events and a 30-day horizon: no cutoff has observed outcomes, on any clock.
      const dir = tempDir('fc-short-');
      const start = new Date(Date.now() - 10 * 86_400_000).toISOString();
      await writeEventsCsv(join(dir, 'events.csv'), { users: 300, seed: 5, days: 10, engagement: 5, start });
      writeFileSync(join(dir, 'short.json'), JSON.stringify(small('short')));
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
  },
);
