/**
 * The fault-injection wrapper the reliability tests use (MockActivityEnvironment at chosen attempt numbers): a
 * transient fault fails the first n attempts as a retryable failure and lets later ones run the activity; a
 * permanent one fails every attempt non-retryably; other activities run untouched; the spec is read at call time
 * and a malformed one is refused with the accepted forms.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { parseFaults, withFaults } from '../../../activities/faults';

const at = (attempt: number) => new MockActivityEnvironment({ attempt }, { logger: new DefaultLogger('ERROR') });

describe('withFaults', () => {
  const saved = process.env.FUNNELCAST_FAULTS;
  after(() => {
    if (saved === undefined) delete process.env.FUNNELCAST_FAULTS;
    else process.env.FUNNELCAST_FAULTS = saved;
  });
  let calls = 0;
  const acts = withFaults({
    flaky: async (x: number) => (calls++, x * 2),
    broken: async () => 'never',
    fine: async () => 'ok',
  });

  it('transient: retryable failures for the first n attempts, then the activity runs', async () => {
    process.env.FUNNELCAST_FAULTS = 'flaky:transient:2,broken:permanent';
    calls = 0;
    for (const attempt of [1, 2])
      await assert.rejects(at(attempt).run(acts.flaky, 4), (e: Error) => {
        assert.ok(e instanceof ApplicationFailure && !e.nonRetryable && e.type === 'InjectedFault', `${e}`);
        assert.match(e.message, new RegExp(`attempt ${attempt}`));
        return true;
      });
    assert.equal(calls, 0, 'the activity itself did not run');
    assert.equal(await at(3).run(acts.flaky, 4), 8);
    assert.equal(calls, 1);
  });

  it('permanent: non-retryable on every attempt; other activities untouched; read at call time', async () => {
    process.env.FUNNELCAST_FAULTS = 'flaky:transient:2,broken:permanent';
    for (const attempt of [1, 5])
      await assert.rejects(at(attempt).run(acts.broken), (e: Error) => {
        assert.ok(e instanceof ApplicationFailure && e.nonRetryable, `${e}`);
        return true;
      });
    assert.equal(await at(1).run(acts.fine), 'ok');
    delete process.env.FUNNELCAST_FAULTS;
    assert.equal(await at(1).run(acts.broken), 'never');
  });

  it('parses the spec and refuses a malformed one', () => {
    assert.deepEqual(parseFaults('a:transient, b:permanent:3'), [
      { activity: 'a', mode: 'transient', attempts: 1 },
      { activity: 'b', mode: 'permanent', attempts: 3 },
    ]);
    assert.deepEqual(parseFaults(undefined), []);
    assert.throws(() => parseFaults('a:sometimes'), /must be activity:transient\[:n\]/);
  });
});
