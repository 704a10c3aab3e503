/**
 * CPU-heavy work off the Node main thread: `runInThread` runs one job in a fresh worker thread and `ThreadPool`
 * bounds how many run at once. The main thread only waits on a message port, so its event loop stays free for
 * Temporal's workflow tasks and heartbeats however long the job computes.
 * With `isolation: 'process'` the job runs in a child process instead, over the same protocol: for code that must
 * not share a process with other threads using it (TensorFlow.js's native backend is used from one thread only).
 *
 * A job file calls `serveThread(fn)`: fn gets the job's input and a context with `progress` (posted to the
 * caller's `onProgress`, e.g. to heartbeat) and `signal` (aborted when the caller's signal fires). A job that does
 * not stop within `graceMs` of the abort is terminated: a cancelled job really stops, even in a synchronous loop.
 * Errors come back with their name, message, stack and own fields (`ThreadError`), so callers can map them.
 */
import { fork } from 'node:child_process';
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
  /** A worker thread (default) or a child process of its own (`transfer` does not apply: input is copied). */
  isolation?: 'thread' | 'process';
  /** Answers the job's `ask` calls (e.g. lends it a table this process has read already); the reply is posted back. */
  onAsk?: (question: unknown) => Promise<unknown> | unknown;
}

export interface ThreadContext {
  progress(data: unknown): void;
  signal: AbortSignal;
  /** A question to the caller's `onAsk` (it fails when the caller gave none). */
  ask(question: unknown): Promise<unknown>;
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
  | { type: 'ask'; id: number; question: unknown }
  | { type: 'result'; value: unknown }
  | { type: 'error'; error: Record<string, unknown> };

/** Either kind of job runner, seen from the caller: send it messages, hear from it, stop it. */
interface JobChannel {
  post(m: unknown): void;
  onMessage(fn: (m: FromThread) => void): void;
  onError(fn: (e: Error) => void): void;
  onExit(fn: (code: number | null) => void): void;
  stop(): void;
}

function threadChannel<I>(job: ThreadJob<I>): JobChannel {
  const worker = new Worker(job.file, { workerData: job.input, transferList: job.transfer });
  return {
    post: (m) => worker.postMessage(m),
    onMessage: (fn) => worker.on('message', fn),
    onError: (fn) => worker.on('error', fn),
    onExit: (fn) => worker.on('exit', fn),
    stop: () => void worker.terminate(), // helper threads the job started (forest predictors) end with it
  };
}

/**
 * glibc's malloc for the child process (read at its start; the environment can override it). TensorFlow's kernels
 * allocate and free buffers of a few MB per call, of every size the batches make; glibc raises its mmap threshold
 * after the first frees and then keeps such buffers in its heaps instead of returning them: scoring the 4.3 M users
 * of 10 M events grew the LSTM process by ~1.3 GB a minute (12 GB after 8 minutes) with a constant tensor count.
 * A fixed threshold keeps them separate mappings, returned on free (400k sequences: 1.6 GB → 0.55 GB RSS).
 */
const CHILD_MALLOC = { MALLOC_MMAP_THRESHOLD_: String(128 * 1024) };

function processChannel<I>(job: ThreadJob<I>): JobChannel {
  // No inherited --test/--inspect flags: the child only runs the job file. Structured clone ('advanced') keeps typed
  // arrays and error fields as a thread's messages do.
  const child = fork(job.file, [], {
    execArgv: [],
    env: { ...CHILD_MALLOC, ...process.env },
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child.send({ type: 'job', input: job.input });
  return {
    post: (m) => {
      if (child.connected) child.send(m as object);
    },
    onMessage: (fn) => child.on('message', fn as (m: unknown) => void),
    onError: (fn) => child.on('error', fn),
    onExit: (fn) => child.on('exit', fn),
    stop: () => void child.kill('SIGKILL'),
  };
}

export function runInThread<O, I = unknown>(job: ThreadJob<I>): Promise<O> {
  return new Promise<O>((resolve, reject) => {
    if (job.signal?.aborted) return reject(abortReason(job.signal));
    const channel = job.isolation === 'process' ? processChannel(job) : threadChannel(job);
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      job.signal?.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      fn();
      channel.stop();
    };
    const onAbort = () => {
      channel.post({ type: 'abort' });
      killTimer = setTimeout(() => finish(() => reject(abortReason(job.signal!))), job.graceMs ?? 5_000);
    };
    job.signal?.addEventListener('abort', onAbort, { once: true });
    channel.onMessage((m) => {
      if (m.type === 'progress') {
        if (!settled) job.onProgress?.(m.data);
      } else if (m.type === 'ask') answer(channel, job, m);
      else if (m.type === 'result') finish(() => resolve(m.value as O));
      else finish(() => reject(new ThreadError(String(m.error.message ?? 'thread failed'), m.error)));
    });
    channel.onError((e) => finish(() => reject(e)));
    channel.onExit((code) =>
      finish(() => reject(job.signal?.aborted ? abortReason(job.signal) : new Error(`job exited (${code})`))),
    );
  });
}

/** Posts the caller's answer to a job's question (an error when there is no `onAsk` or it failed). */
function answer<I>(channel: JobChannel, job: ThreadJob<I>, m: { id: number; question: unknown }) {
  Promise.resolve()
    .then(() => {
      if (!job.onAsk) throw new Error('this job was started without an onAsk to answer it');
      return job.onAsk(m.question);
    })
    .then(
      (value) => channel.post({ type: 'answer', id: m.id, value }),
      (e: unknown) => channel.post({ type: 'answer', id: m.id, error: errorFields(e) }),
    );
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'cancelled'));
}

/** The job side of runInThread, in a worker thread or a child process: runs `fn` on the job's input, posts back. */
export function serveThread<I, O>(fn: (input: I, ctx: ThreadContext) => Promise<O> | O): void {
  const inChild = isMainThread && typeof process.send === 'function';
  if (!inChild && (isMainThread || !parentPort))
    throw new Error('serveThread runs in a worker thread or child process (see runInThread)');
  const post = inChild ? (m: unknown) => process.send!(m) : (m: unknown) => parentPort!.postMessage(m);
  const abort = new AbortController();
  const asked = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  const ctx: ThreadContext = {
    progress: (data) => post({ type: 'progress', data }),
    signal: abort.signal,
    ask: (question) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        asked.set(id, { resolve, reject });
        post({ type: 'ask', id, question });
      }),
  };
  const run = (input: I) =>
    Promise.resolve()
      .then(() => fn(input, ctx))
      .then(
        (value) => post({ type: 'result', value }),
        (e: unknown) => post({ type: 'error', error: errorFields(e) }),
      );
  const onMessage = (m: { type: string; input?: I; id?: number; value?: unknown; error?: Record<string, unknown> }) => {
    if (m.type === 'abort') abort.abort(new Error('cancelled'));
    else if (m.type === 'answer') {
      const q = asked.get(m.id!);
      asked.delete(m.id!);
      if (m.error) q?.reject(new ThreadError(String(m.error.message ?? 'ask failed'), m.error));
      else q?.resolve(m.value);
    } else if (m.type === 'job' && inChild) void run(m.input as I);
  };
  if (inChild) {
    process.on('message', onMessage);
    process.on('disconnect', () => process.exit(0)); // the caller went away: so does the job
  } else {
    parentPort!.on('message', onMessage);
    void run(workerData as I);
  }
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
