/** Worker-thread (and child-process) jobs for test/unit/infra/threads.test.ts (compiled beside it into dist/test/helpers). */
import { serveThread } from '../../infra/threads';

export type TestJob =
  | { kind: 'sum'; values: Float64Array }
  | { kind: 'progress'; steps: number }
  | { kind: 'spin'; ms: number }
  | { kind: 'fail' }
  | { kind: 'watch' }
  | { kind: 'pid' }
  | { kind: 'ask'; questions: string[] };

serveThread(async (job: TestJob, ctx) => {
  if (job.kind === 'pid') return process.pid;
  if (job.kind === 'ask') {
    // Questions asked at once: each answer must come back to the question that asked it.
    const answers = await Promise.all(job.questions.map((q) => ctx.ask(q).catch((e: Error) => `error: ${e.message}`)));
    return answers;
  }
  if (job.kind === 'sum') return job.values.reduce((a, b) => a + b, 0);
  if (job.kind === 'progress') {
    for (let i = 1; i <= job.steps; i++) ctx.progress({ done: i });
    return 'ok';
  }
  if (job.kind === 'spin') {
    // A synchronous loop that never yields: only terminating the thread stops it.
    const end = Date.now() + job.ms;
    while (Date.now() < end);
    return 'spun';
  }
  if (job.kind === 'watch') {
    // Stops on its own when told to abort.
    // (A child process may hear the abort before it has started the job: the signal is then already aborted.)
    if (!ctx.signal.aborted)
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    throw new Error('stopped by abort');
  }
  const e = new Error('bad row 7') as Error & { type: string; nonRetryable: boolean };
  e.name = 'ApplicationFailure';
  e.type = 'InputError';
  e.nonRetryable = true;
  throw e;
});
