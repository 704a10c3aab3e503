/**
 * The extract activity as an adapter (MockActivityEnvironment, a real DuckDB warehouse in a temporary
 * FUNNELCAST_HOME) on a generated events CSV with a duplicate and a bad row: its counts add up
 * (read = loaded + duplicates + quarantined) and match the warehouse; a repeated extract skips the file it already
 * loaded; rows appended to the file since are loaded incrementally; a missing source fails non-retryably.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { extractSources } from '../../../activities/extract';
import { paths } from '../../../infra/paths';
import { withDuckDB } from '../../../warehouse/db';
import type { ExtractCounts } from '../../../workflows/types';
import { scalar } from '../../helpers/warehouse';
import { env, tinyPipeline } from '../../helpers/tiny-pipeline';

describe('extractSources (activity)', () => {
  it('counts that add up and match the warehouse; a repeat skips the file; appended rows load incrementally', async () => {
    const p = await tinyPipeline('extact', { users: 100 });
    const csv = join(p.loaded.baseDir, 'events.csv');
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    assert.equal(p.extract.read, lines.length - 1);
    assert.equal(p.extract.loaded, lines.length - 1);
    assert.equal(p.extract.database, paths.warehouse('extact'));

    // Rows appended since: one duplicate of an existing row, one with a timestamp that is not one, two new rows.
    appendFileSync(
      csv,
      [lines[1], 'u1,not-a-time,view,i1,,s1-x', 'u999,2024-04-01T10:00:00.000Z,view,i2,,s999-0'].join('\n') +
        '\nu998,2024-04-02T10:00:00.000Z,transaction,i3,12.50,s998-0\n',
    );
    const again: ExtractCounts = await env().run(extractSources, { loaded: p.loaded });
    assert.equal(again.read, again.loaded + again.duplicates + again.quarantined);
    assert.deepEqual([again.read, again.loaded, again.duplicates, again.quarantined], [4, 2, 1, 1]);
    await withDuckDB(paths.warehouse('extact'), async (conn) => {
      assert.equal(await scalar(conn, 'SELECT count(*) FROM events'), p.extract.loaded + 2);
      assert.equal(await scalar(conn, 'SELECT count(*) FROM events'), again.events);
      assert.equal(await scalar(conn, `SELECT count(*) FROM quarantine`), 1);
    });
    assert.equal(again.users, p.extract.users + 2);

    const repeat: ExtractCounts = await env().run(extractSources, { loaded: p.loaded });
    assert.deepEqual([repeat.read, repeat.loaded, repeat.filesSkipped], [0, 0, 1]);
    assert.equal(repeat.events, again.events);
  });

  it('a missing source fails non-retryably', async () => {
    const p = await tinyPipeline('extact2', { users: 10 });
    rmSync(join(p.loaded.baseDir, 'events.csv'));
    await assert.rejects(env().run(extractSources, { loaded: p.loaded }), (e: Error) => {
      assert.ok(e instanceof ApplicationFailure && e.nonRetryable, `non-retryable, got ${e}`);
      assert.match(e.message, /events\.csv/);
      return true;
    });
  });
});
