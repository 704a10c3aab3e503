/**
 * CPU-heavy work off the Node main thread: `runInThread` runs one job in a fresh worker thread and `ThreadPool`
 * bounds how many run at once. The main thread only waits on a message port, so its event loop stays free for
 * Temporal's workflow tasks and heartbeats however long the job computes.
 *
 * A job file calls `serveThread(fn)`: fn gets the job's input and a context with `progress` (posted to the
 * caller's `onProgress`, e.g. to heartbeat) and `signal` (aborted when the caller's signal fires). A job that does
 * not stop within `graceMs` of the abort is terminated: a cancelled job really stops, even in a synchronous loop.
 * Errors come back with their name, message, stack and own fields (`ThreadError`), so callers can map them.
 */
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData, type Transferable } from 'node:worker_threads';

export interface ThreadJob<I> {
  /** The compiled job file (absolute path) that calls serveThread. */
  file: string;
  input: I;
  /** Buffers moved to the thread instead of copied (they are unusable here afterwards). */
  transfer?: Transferable[];
  onProgress?: (data: unknown) => void;
  signal?: AbortSignal;
  /** How long an aborted job may take to stop on its own before it is terminated (default 5 s). */
  graceMs?: number;
}

export interface ThreadContext {
  progress(data: unknown): void;
  signal: AbortSignal;
}

/** An error thrown in a thread, as the caller sees it: same name and message, plus the error's own fields. */
export class ThreadError extends Error {
  constructor(
    message: string,
    readonly fields: Record<string, unknown>,
  ) {
    super(message);
    this.name = String(fields.name ?? 'Error');
    if (typeof fields.stack === 'string') this.stack = fields.stack;
  }
}

type FromThread =
  | { type: 'progress'; data: unknown }
  | { type: 'result'; value: unknown }
  | { type: 'error'; error: Record<string, unknown> };

export function runInThread<O, I = unknown>(job: ThreadJob<I>): Promise<O> {
  return new Promise<O>((resolve, reject) => {
    if (job.signal?.aborted) return reject(abortReason(job.signal));
    const worker = new Worker(job.file, { workerData: job.input, transferList: job.transfer });
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      job.signal?.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      fn();
      void worker.terminate(); // helper threads the job started (forest predictors) end with it
    };
    const onAbort = () => {
      worker.postMessage({ type: 'abort' });
      killTimer = setTimeout(() => finish(() => reject(abortReason(job.signal!))), job.graceMs ?? 5_000);
    };
    job.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (m: FromThread) => {
      if (m.type === 'progress') {
        if (!settled) job.onProgress?.(m.data);
      } else if (m.type === 'result') finish(() => resolve(m.value as O));
      else finish(() => reject(new ThreadError(String(m.error.message ?? 'thread failed'), m.error)));
    });
    worker.on('error', (e) => finish(() => reject(e)));
    worker.on('exit', (code) =>
      finish(() => reject(job.signal?.aborted ? abortReason(job.signal) : new Error(`thread exited (${code})`))),
    );
  });
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'cancelled'));
}

/** The thread side of runInThread: runs `fn` on the job's input and posts its result or error back. */
export function serveThread<I, O>(fn: (input: I, ctx: ThreadContext) => Promise<O> | O): void {
  if (isMainThread || !parentPort) throw new Error('serveThread runs in a worker thread (see runInThread)');
  const port = parentPort;
  const abort = new AbortController();
  port.on('message', (m: { type: string }) => {
    if (m.type === 'abort') abort.abort(new Error('cancelled'));
  });
  const ctx: ThreadContext = { progress: (data) => port.postMessage({ type: 'progress', data }), signal: abort.signal };
  Promise.resolve()
    .then(() => fn(workerData as I, ctx))
    .then(
      (value) => port.postMessage({ type: 'result', value }),
      (e: unknown) => port.postMessage({ type: 'error', error: errorFields(e) }),
    );
}

function errorFields(e: unknown): Record<string, unknown> {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e) };
  const own: Record<string, unknown> = {};
  // Own enumerable fields that survive structured cloning (e.g. ApplicationFailure's type and nonRetryable).
  for (const [k, v] of Object.entries(e))
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) own[k] = v;
  return { ...own, name: e.name, message: e.message, stack: e.stack };
}

/** At most `size` jobs at once; the rest wait in order. */
export class ThreadPool {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {
    if (!(size >= 1)) throw new Error(`a thread pool needs at least one slot (got ${size})`);
  }

  async run<O, I = unknown>(job: ThreadJob<I>): Promise<O> {
    if (this.running >= this.size) await new Promise<void>((go) => this.waiting.push(go));
    this.running++;
    try {
      return await runInThread<O, I>(job);
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }

  get active(): number {
    return this.running;
  }
}

let shared: ThreadPool | undefined;

/** The process's pool for CPU jobs: one slot per core. */
export function cpuPool(): ThreadPool {
  shared ??= new ThreadPool(Math.max(1, availableParallelism()));
  return shared;
}
