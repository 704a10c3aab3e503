/**
 * The helpers every activity uses (MockActivityEnvironment): bad input (InputError, a definition error, a zod error)
 * becomes a non-retryable failure and any other error stays retryable; an error thrown because Temporal cancelled the
 * attempt is reported as the cancellation; withHeartbeat heartbeats while slow work runs and stops after it;
 * claimFiles gives each attempt its own tag and stops an older attempt once a newer one claimed the same files.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import {
  cancellationSignal,
  claimFiles,
  failFastOnBadInput,
  InputError,
  withHeartbeat,
} from '../../../activities/context';
import { PipelineDefinitionError } from '../../../pipelines/load';
import { tempDir } from '../../helpers/warehouse';

const at = (attempt = 1) =>
  new MockActivityEnvironment({ attempt, activityId: 'act-1' }, { logger: new DefaultLogger('ERROR') });

describe('activity context helpers', () => {
  it('failFastOnBadInput: input errors are non-retryable, others retryable as thrown', async () => {
    const fail = (e: Error) => () => failFastOnBadInput(async () => Promise.reject(e));
    for (const e of [
      new InputError('bad column'),
      new PipelineDefinitionError('p.json', ['label: Required']),
      (() => {
        try {
          z.number().parse('x');
        } catch (err) {
          return err as Error;
        }
        return new Error('unreachable');
      })(),
      Object.assign(new Error('named'), { name: 'InputError' }),
    ])
      await assert.rejects(at().run(fail(e)), (got: Error) => {
        assert.ok(got instanceof ApplicationFailure && got.nonRetryable, `${e.name} -> ${got}`);
        return true;
      });
    const disk = new Error('ENOSPC');
    await assert.rejects(at().run(fail(disk)), (got: Error) => got === disk);
    assert.equal(await at().run(() => failFastOnBadInput(async () => 42)), 42);
  });

  it('an error thrown on cancellation is reported as the cancellation', async () => {
    const env = at();
    const body = () =>
      failFastOnBadInput(async () => {
        const signal = cancellationSignal();
        await new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(new Error('training cancelled'))),
        );
      });
    const run = env.run(body);
    env.cancel();
    await assert.rejects(run, (e: Error) => e instanceof CancelledFailure);
  });

  it('withHeartbeat: heartbeats while the work runs, none after', async () => {
    const env = at();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    let n = 0;
    const r = await env.run(() =>
      withHeartbeat(
        sleep(300).then(() => 'done'),
        () => ({ step: 'x', n: ++n }),
        20,
      ),
    );
    assert.equal(r, 'done');
    assert.ok(beats.length >= 3, `${beats.length} heartbeats`);
    assert.deepEqual(beats[0], { step: 'x', n: 1 });
    const seen = beats.length;
    await sleep(80);
    assert.equal(beats.length, seen, 'stopped with the work');
  });

  it('claimFiles: a newer attempt takes the files over and the older one stops', async () => {
    const dir = tempDir('fc-claim-');
    let older: ReturnType<typeof claimFiles> | undefined;
    let newer: ReturnType<typeof claimFiles> | undefined;
    await at(1).run(async () => {
      older = claimFiles(dir, 'fold1', 10);
    });
    await at(2).run(async () => {
      newer = claimFiles(dir, 'fold1', 10);
    });
    assert.notEqual(older!.tag, newer!.tag);
    assert.match(older!.tag, /^a1-/);
    assert.match(newer!.tag, /^a2-/);
    assert.throws(() => older!.check(), /a newer attempt claimed fold1/);
    assert.ok(older!.signal.aborted);
    newer!.check(); // the newer one goes on
    older!.release(); // not its claim any more: left in place
    assert.ok(existsSync(join(dir, 'fold1.attempt')));
    newer!.release();
    assert.ok(!existsSync(join(dir, 'fold1.attempt')));
  });
});
