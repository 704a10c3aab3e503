/**
 * findCompletedRuns as an adapter (MockActivityEnvironment, a temporary FUNNELCAST_HOME): a run is finished when its
 * run.json exists (finishRun writes it last), and only the ids asked for are looked at, so a finished run of another
 * definition at the same cutoff is never returned for this one.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findCompletedRuns, RUN_FILE } from '../../../activities/runs';
import { paths } from '../../../infra/paths';
import { tempDir } from '../../helpers/warehouse';
import { env } from '../../helpers/tiny-pipeline';

describe('findCompletedRuns (activity)', () => {
  it('returns the summaries of the finished runs among those asked for, and nothing else', async () => {
    process.env.FUNNELCAST_HOME = tempDir('fc-runs-home-');
    const run = (id: string, summary: object | null) => {
      const dir = paths.runDir('p', id);
      mkdirSync(join(dir, 'models'), { recursive: true });
      if (summary) writeFileSync(join(dir, RUN_FILE), JSON.stringify(summary));
    };
    run('p-20240301T000000Z-aaaa', { runId: 'p-20240301T000000Z-aaaa', cutoff: '2024-03-01T00:00:00.000Z' });
    run('p-20240308T000000Z-bbbb', null); // started, not finished
    run('p-20240301T000000Z-cccc', { runId: 'p-20240301T000000Z-cccc' }); // same cutoff, other definition
    const done = await env().run(findCompletedRuns, {
      pipeline: 'p',
      runIds: ['p-20240301T000000Z-aaaa', 'p-20240308T000000Z-bbbb', 'p-20240315T000000Z-dddd'],
    });
    assert.deepEqual(done, {
      'p-20240301T000000Z-aaaa': { runId: 'p-20240301T000000Z-aaaa', cutoff: '2024-03-01T00:00:00.000Z' },
    });
    assert.deepEqual(
      await env().run(findCompletedRuns, { pipeline: 'other', runIds: ['p-20240301T000000Z-aaaa'] }),
      {},
    );
  });
});
