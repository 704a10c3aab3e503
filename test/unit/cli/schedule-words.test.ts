/** Schedules in words (`schedule list/describe` and the note the Temporal Web UI shows), not calendar JSON. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { scheduleInWords } from '../../../cli/schedule-words';

const every = (e: string) => scheduleInWords({ every: e, cron: null, timezone: 'UTC' });
const cron = (c: string, timezone = 'UTC') => scheduleInWords({ every: null, cron: c, timezone });

describe('schedules in words', () => {
  it('says intervals as an operator would, with the time of day they fire (intervals count from the epoch, UTC)', () => {
    assert.equal(every('1d'), 'every day at 00:00 UTC');
    assert.equal(every('1d+2h'), 'every day at 02:00 UTC');
    assert.equal(every('6h'), 'every 6 hours');
    assert.equal(every('30m'), 'every 30 minutes');
    assert.equal(every('1w'), 'every week on Thursday at 00:00 UTC');
    assert.equal(every('1w+4d'), 'every week on Monday at 00:00 UTC');
  });
  it('says cron expressions in words in their time zone, and shows the expression when it cannot', () => {
    assert.equal(cron('0 2 * * *'), 'every day at 02:00 UTC');
    assert.equal(cron('0 3 * * 1', 'Europe/Paris'), 'every Monday at 03:00 Europe/Paris');
    assert.equal(cron('30 6 * * 1-5'), 'every weekday at 06:30 UTC');
    assert.equal(cron('0 0 1 * *'), 'on day 1 of every month at 00:00 UTC');
    assert.equal(cron('*/15 * * * *'), 'every 15 minutes');
    assert.equal(cron('0 */6 * * *'), 'every 6 hours at minute 0');
    assert.equal(cron('@daily'), 'every day at 00:00 UTC');
    assert.equal(cron('0 2 * 3 *'), 'cron "0 2 * 3 *" (UTC)');
  });
});
