/**
 * The live demo feed (data/live.ts) and its extraction: per-day events from a seed, appended whole days up to a
 * time; appending again for the same days adds nothing; appending in steps gives the same bytes as at once; a
 * crashed append is cut back; extraction loads the feed after the source's own file, and only what was appended.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendLiveDays, liveDayLines, type LiveSpec } from '../../../data/live';
import { withDuckDB } from '../../../warehouse/db';
import { extractPipeline } from '../../../warehouse/extract';
import { loadPipeline } from '../../../pipelines/load';
import { scalar, tempDir } from '../../helpers/warehouse';

const spec: LiveSpec = { seed: 7, users: 2000, from: '2024-06-01' };
const DAY = 86_400_000;

describe('live demo feed', () => {
  it('a day is a function of (seed, day): same lines every time, other days and seeds differ', () => {
    const d = Date.parse('2024-06-03T00:00:00Z');
    const a = liveDayLines(spec, d);
    assert.ok(a.length > 100, `a day of 2,000 users has events (${a.length})`);
    assert.deepEqual(liveDayLines(spec, d), a);
    assert.notDeepEqual(liveDayLines(spec, d + DAY), a);
    assert.notDeepEqual(liveDayLines({ ...spec, seed: 8 }, d), a);
    for (const l of a) assert.ok(l.split(',')[1] >= '2024-06-03', l);
  });

  it('appends whole days up to a time; again appends nothing; in steps = at once; a crashed append is cut back; cancel', async () => {
    const dir = tempDir('fc-live-');
    const once = join(dir, 'once.csv');
    const r = await appendLiveDays(once, spec, new Date('2024-06-20T13:00:00Z'));
    assert.deepEqual([r.days, r.through], [19, '2024-06-19'], 'June 1–19: the 20th has not ended');
    const bytes = readFileSync(once);
    assert.equal((await appendLiveDays(once, spec, new Date('2024-06-20T23:59:00Z'))).days, 0);
    assert.deepEqual(readFileSync(once), bytes, 'the same days again: nothing appended');

    const steps = join(dir, 'steps.csv');
    await appendLiveDays(steps, spec, new Date('2024-06-05T00:00:00Z'));
    appendFileSync(steps, 'u000001,2024-06-05T01:00:00Z,view,i1,,half-written'); // a crash mid-append
    // Cancelled: it stops after the month it is writing (here all 15 days), recorded, so the next call appends nothing.
    const stop = new AbortController();
    stop.abort();
    await assert.rejects(appendLiveDays(steps, spec, new Date('2024-06-20T00:00:00Z'), stop.signal), /abort/i);
    assert.equal((await appendLiveDays(steps, spec, new Date('2024-06-20T00:00:00Z'))).days, 0);
    assert.deepEqual(readFileSync(steps), bytes, 'appended in two steps, after a crash: the same bytes');
  });

  it('extraction loads the feed after the sample file, and a second extract of the same days loads nothing', async () => {
    const dir = tempDir('fc-live-x-');
    const feed = join(dir, 'live', 'events.csv');
    const sample = loadPipeline('sample');
    await appendLiveDays(feed, sample.definition.sources.events.live!, new Date('2024-06-11T00:00:00Z'));
    await withDuckDB(join(dir, 'w.duckdb'), async (conn) => {
      const first = await extractPipeline(conn, sample, { liveEvents: feed });
      const live = first.sources[1];
      assert.equal(live.files[0].file, feed);
      assert.ok(live.loaded > 1000 && live.quarantined === 0, JSON.stringify(live));
      assert.equal(first.maxTs!.slice(0, 10) >= '2024-06-10', true, first.maxTs!);
      assert.equal(await scalar(conn, `SELECT count(*) FROM events WHERE ts >= '2024-05-31'`), live.loaded);
      const again = await extractPipeline(conn, sample, { liveEvents: feed });
      assert.equal(again.sources[1].loaded, 0, 'nothing new in the feed: nothing loaded');
      await appendLiveDays(feed, sample.definition.sources.events.live!, new Date('2024-06-13T00:00:00Z'));
      const more = await extractPipeline(conn, sample, { liveEvents: feed });
      assert.ok(more.sources[1].loaded > 0 && more.sources[1].loaded < live.loaded, 'two more days appended');
      assert.equal(more.maxTs!.slice(0, 10) >= '2024-06-12', true);
    });
  });
});
