/**
 * Issue 19: messages name files by store key (a blocked run's "charts in runs/<p>/<run>/drift.html"), and the CLI
 * shows people this home's paths for them, inside sentences as for whole values (`status`, `runs list`, `run`).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forPeople } from '../../../cli/edge';
import { describeFacts } from '../../../cli/runs';

const saved = { ...process.env };
after(() => {
  process.env = saved;
});

const blocked =
  'drift checks blocked publishing and delivery: blocked: n_view_total PSI 0.412 (block) (against v0001; charts in ' +
  'runs/p/p-20240301T000000Z-ab12/drift.html). Accept it with --accept-drift, or see runs/p/x/report.html.';

describe('keys inside messages, resolved for people', () => {
  it('status shows the drift chart of a blocked run as a path in this home', () => {
    const home = mkdtempSync(join(tmpdir(), 'fc-msg-'));
    process.env.FUNNELCAST_HOME = home;
    delete process.env.FUNNELCAST_STORE;
    const facts = forPeople({
      input: null,
      failure: { step: 'publish', activity: null, attempts: 1, message: blocked },
      steps: [],
      summary: null,
      cancelRequested: false,
      lastStep: 'publish',
      health: { workflowTaskTimeouts: 0, workflowTaskFailures: 0, activityTimeouts: 0, retriedActivities: 0 },
    } as unknown as Parameters<typeof describeFacts>[2]);
    const text = describeFacts('p-run', 'FAILED', facts);
    const chart = join(home, 'runs', 'p', 'p-20240301T000000Z-ab12', 'drift.html');
    assert.ok(text.includes(`charts in ${chart}). Accept`), text);
    assert.ok(text.includes(`see ${join(home, 'runs', 'p', 'x', 'report.html')}.`), 'the sentence keeps its full stop');
    assert.ok(!/ runs\//.test(text), text);
  });

  it('leaves what is not a key alone, and keys as they are with a store', () => {
    process.env.FUNNELCAST_HOME = mkdtempSync(join(tmpdir(), 'fc-msg-'));
    const other = 'GET http://host/runs/p failed; the runs/ folder; reruns/p/x; value runs';
    assert.equal(forPeople(other), other);
    process.env.FUNNELCAST_STORE = 's3://bucket/prefix';
    assert.equal(forPeople(blocked), blocked);
  });
});
