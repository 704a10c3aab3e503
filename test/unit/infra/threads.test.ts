import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { runInThread, ThreadError, ThreadPool } from '../../../infra/threads';
import type { TestJob } from '../../helpers/thread-jobs';

const file = join(__dirname, '..', '..', 'helpers', 'thread-jobs.js');
type Extra = { onProgress?: (d: unknown) => void; signal?: AbortSignal; graceMs?: number };
const run = <O>(input: TestJob, extra: Extra = {}) => runInThread<O, TestJob>({ file, input, ...extra });
const runInProcess = <O>(input: TestJob, extra: Extra = {}) =>
  runInThread<O, TestJob>({ file, input, ...extra, isolation: 'process' });

describe('runInThread / ThreadPool', () => {
  it('returns the job result and relays progress in order', async () => {
    assert.equal(await run<number>({ kind: 'sum', values: Float64Array.from([1, 2, 3.5]) }), 6.5);
    const seen: unknown[] = [];
    assert.equal(await run<string>({ kind: 'progress', steps: 3 }, { onProgress: (d) => seen.push(d) }), 'ok');
    assert.deepEqual(seen, [{ done: 1 }, { done: 2 }, { done: 3 }]);
  });

  it("answers a job's questions (in a thread and in a child process), each to its own question", async () => {
    const onAsk = async (q: unknown) => {
      if (q === 'fail') throw new Error('no such table');
      await new Promise((r) => setTimeout(r, q === 'slow' ? 50 : 0));
      return `answer to ${String(q)}`;
    };
    const questions = ['slow', 'fast', 'fail'];
    const expected = ['answer to slow', 'answer to fast', 'error: no such table'];
    for (const isolation of ['thread', 'process'] as const)
      assert.deepEqual(
        await runInThread<string[], TestJob>({ file, input: { kind: 'ask', questions }, onAsk, isolation }),
        expected,
        isolation,
      );
    const unasked = await run<string[]>({ kind: 'ask', questions: ['x'] });
    assert.match(unasked[0], /error: this job was started without an onAsk/);
  });

  it('keeps the main event loop free while the job computes', async () => {
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    assert.equal(await run<string>({ kind: 'spin', ms: 1_500 }), 'spun');
    h.disable();
    assert.ok(h.max / 1e6 < 500, `main thread delay ${h.max / 1e6} ms while a thread spun 1.5 s`);
  });

  it('brings the error back with its name and own fields', async () => {
    const e = (await run({ kind: 'fail' }).catch((x: unknown) => x)) as ThreadError;
    assert.ok(e instanceof ThreadError);
    assert.equal(e.name, 'ApplicationFailure');
    assert.equal(e.message, 'bad row 7');
    assert.equal(e.fields.type, 'InputError');
    assert.equal(e.fields.nonRetryable, true);
  });

  it('an aborted job that stops on its own reports its own error; one that never yields is terminated', async () => {
    const a = new AbortController();
    setTimeout(() => a.abort(new Error('cancelled by test')), 100);
    await assert.rejects(run({ kind: 'watch' }, { signal: a.signal }), /stopped by abort/);
    const b = new AbortController();
    setTimeout(() => b.abort(new Error('cancelled by test')), 100);
    const started = Date.now();
    await assert.rejects(run({ kind: 'spin', ms: 60_000 }, { signal: b.signal, graceMs: 200 }), /cancelled by test/);
    assert.ok(Date.now() - started < 5_000, 'the spinning thread was terminated, not waited for');
    const c = new AbortController();
    c.abort(new Error('already'));
    await assert.rejects(run({ kind: 'sum', values: new Float64Array(1) }, { signal: c.signal }), /already/);
  });

  it('runs at most `size` jobs at once, the rest in order', async () => {
    const pool = new ThreadPool(2);
    let peak = 0;
    const jobs = Array.from({ length: 5 }, (_, i) =>
      pool.run<number, TestJob>({ file, input: { kind: 'sum', values: Float64Array.from([i]) } }).then((r) => {
        peak = Math.max(peak, pool.active);
        return r;
      }),
    );
    const watch = setInterval(() => (peak = Math.max(peak, pool.active)), 1);
    assert.deepEqual(await Promise.all(jobs), [0, 1, 2, 3, 4]);
    clearInterval(watch);
    assert.ok(peak <= 2 && peak >= 1, `peak ${peak}`);
    assert.equal(pool.active, 0);
    assert.throws(() => new ThreadPool(0), /at least one slot/);
  });

  it('runs a job in a child process of its own with the same protocol: result, progress, errors, abort', async () => {
    const pid = await runInProcess<number>({ kind: 'pid' });
    assert.ok(pid > 0 && pid !== process.pid, `ran in process ${pid}, not ${process.pid}`);
    assert.equal(await runInProcess<number>({ kind: 'sum', values: Float64Array.from([1, 2, 3.5]) }), 6.5);
    const seen: unknown[] = [];
    assert.equal(await runInProcess<string>({ kind: 'progress', steps: 2 }, { onProgress: (d) => seen.push(d) }), 'ok');
    assert.deepEqual(seen, [{ done: 1 }, { done: 2 }]);
    const e = (await runInProcess({ kind: 'fail' }).catch((x: unknown) => x)) as ThreadError;
    assert.ok(e instanceof ThreadError);
    assert.equal(e.fields.type, 'InputError');
    const a = new AbortController();
    setTimeout(() => a.abort(new Error('cancelled by test')), 300);
    await assert.rejects(runInProcess({ kind: 'watch' }, { signal: a.signal }), /stopped by abort/);
    const b = new AbortController();
    setTimeout(() => b.abort(new Error('cancelled by test')), 300);
    const started = Date.now();
    await assert.rejects(runInProcess({ kind: 'spin', ms: 60_000 }, { signal: b.signal, graceMs: 200 }), /cancelled/);
    assert.ok(Date.now() - started < 5_000, 'the spinning process was killed, not waited for');
  });
});
