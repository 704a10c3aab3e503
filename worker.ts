/**
 * The funnelcast worker. One process hosts two Temporal workers:
 *   - `<queue>` (FUNNELCAST_TASK_QUEUE, default `funnelcast`): the workflows and the I/O steps;
 *   - `<queue>-cpu`: training, scoring and segmenting, whose bodies run on worker threads, with a concurrency
 *     limit from the cores and the memory budget (infra/capacity.ts).
 * Every activity's maximum event-loop delay is measured and returned with its result (workflows/queues.ts), so
 * the run summary and `status` show whether anything starved the workflows.
 * Only this file and the CLI build the activities' dependencies (createActivities); workflows see their types only.
 *
 *   npm run worker                         # both queues, against TEMPORAL_ADDRESS or the embedded dev server
 *   npm run worker -- --cpu-only           # only `<queue>-cpu` (e.g. on a machine with more cores)
 *   npm run worker -- --io-only            # only the workflows and I/O steps
 */
import { NativeConnection, Worker, type ActivityInterceptorsFactory, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from './activities';
import { cpuSlots } from './infra/capacity';
import { measureEventLoopDelay } from './infra/event-loop';
import { ensureServer, TASK_QUEUE, temporalConnectionOptions, temporalNamespace } from './infra/temporal';
import { ensureSearchAttributes } from './infra/search-attributes';
import { workflowBundleOption } from './infra/workflow-bundle';
import {
  activityKind,
  cpuQueue,
  EVENT_LOOP_FIELD,
  MEASURED_ACTIVITIES,
  QUEUE_KINDS,
  queueFor,
  type QueueKind,
} from './workflows/queues';

export type WorkerRole = 'both' | 'io' | 'cpu';

export interface WorkerSettings {
  connection: NativeConnection;
  taskQueue?: string;
  namespace?: string;
  /** Which queues this process serves (default both). */
  role?: WorkerRole;
  /** The kinds of work this process serves (workflows/queues.ts); overrides `role`. Default: all four. */
  queues?: QueueKind[];
  /** Concurrent I/O activities (default FUNNELCAST_ACTIVITY_CONCURRENCY or 4). */
  maxConcurrentActivityTaskExecutions?: number;
  /** Concurrent CPU activities (default from the cores and FUNNELCAST_MEMORY: infra/capacity.ts). */
  cpuConcurrency?: number;
  identity?: string;
}

/** The process's Temporal workers, run and stopped together. */
export interface FunnelcastWorker {
  readonly workers: Worker[];
  readonly cpuConcurrency: number;
  run(): Promise<void>;
  runUntil<R>(until: Promise<R>): Promise<R>;
  shutdown(): void;
}

/** Adds the worker's maximum event-loop delay during the activity to the results of MEASURED_ACTIVITIES. */
const eventLoopProbe: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const probe = measureEventLoopDelay();
      try {
        const result = await next(input);
        const measured = MEASURED_ACTIVITIES.includes(ctx.info.activityType);
        return measured && result && typeof result === 'object' && !Array.isArray(result)
          ? { ...result, [EVENT_LOOP_FIELD]: probe.stop() }
          : result;
      } finally {
        probe.stop();
      }
    },
  },
});

/** The queue kinds of a role: `io` is everything but training and scoring; `cpu` only those. */
export const kindsOf = (role: WorkerRole): QueueKind[] =>
  role === 'cpu' ? ['cpu'] : role === 'io' ? ['workflows', 'io', 'warehouse'] : [...QUEUE_KINDS];

export async function createWorker(s: WorkerSettings): Promise<FunnelcastWorker> {
  const all = createActivities();
  const of = (kind: QueueKind) => Object.fromEntries(Object.entries(all).filter(([n]) => activityKind(n) === kind));
  const taskQueue = s.taskQueue ?? TASK_QUEUE;
  const kinds = s.queues ?? kindsOf(s.role ?? 'both');
  const cpuConcurrency = s.cpuConcurrency ?? cpuSlots().slots;
  const ioConcurrency =
    s.maxConcurrentActivityTaskExecutions ?? Number(process.env.FUNNELCAST_ACTIVITY_CONCURRENCY ?? 4);
  const common: Partial<WorkerOptions> = {
    connection: s.connection,
    namespace: s.namespace ?? temporalNamespace(),
    interceptors: { activity: [eventLoopProbe] },
    // Cancellation reaches an activity only in the answer to one of its heartbeats, and the SDK sends heartbeats at
    // most every 0.8 × heartbeatTimeout (24 s for training) by default: send them every second, so a cancel stops
    // training within seconds (README: 5 s).
    maxHeartbeatThrottleInterval: '1 second',
    defaultHeartbeatThrottleInterval: '1 second',
    ...(s.identity ? { identity: s.identity } : {}),
  };
  const workers: Worker[] = [];
  // The prebuilt workflow bundle (or one made on a worker thread): webpack on this thread blocked its loop 1.3 s.
  const workflowCode = kinds.includes('workflows') ? await workflowBundleOption() : null;
  // The workflows set funnelcast's search attributes (workflows/tags.ts): they must exist on the namespace first.
  if (kinds.includes('workflows')) await ensureSearchAttributes(s.connection.operatorService, common.namespace!);
  for (const kind of kinds)
    workers.push(
      await Worker.create({
        ...common,
        connection: s.connection,
        taskQueue: queueFor(taskQueue, kind),
        ...(kind === 'workflows'
          ? workflowCode!
          : {
              activities: of(kind),
              // Training and scoring take the CPU slots; the warehouse steps share the I/O limit.
              maxConcurrentActivityTaskExecutions: kind === 'cpu' ? cpuConcurrency : ioConcurrency,
            }),
      }),
    );
  return together(workers, cpuConcurrency);
}

function together(workers: Worker[], cpuConcurrency: number): FunnelcastWorker {
  const shutdown = () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  };
  // One worker failing stops the others: the process then exits instead of serving half the queues.
  const run = () =>
    Promise.all(
      workers.map((w) =>
        w.run().catch((e: unknown) => {
          shutdown();
          throw e;
        }),
      ),
    ).then(() => undefined);
  return {
    workers,
    cpuConcurrency,
    run,
    shutdown,
    async runUntil<R>(until: Promise<R>): Promise<R> {
      const running = run();
      try {
        return await Promise.race([until, running.then(() => until)]);
      } finally {
        shutdown();
        await running;
      }
    },
  };
}

/**
 * Runs a worker against TEMPORAL_ADDRESS or the embedded dev server (started if needed) until SIGINT/SIGTERM.
 * `banner` receives the server so callers can say where things are.
 */
export async function runWorkerUntilStopped(
  banner: (server: { address: string; uiUrl: string }) => string,
  role: WorkerRole | QueueKind[] = 'both',
): Promise<void> {
  const server = await ensureServer();
  const connection = await NativeConnection.connect({
    address: server.address,
    ...(server.embedded ? {} : temporalConnectionOptions()),
  });
  const queues = Array.isArray(role) ? role : kindsOf(role);
  const worker = await createWorker({ connection, queues });
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.stderr.write(banner(server));
  try {
    await worker.run();
  } finally {
    await connection.close();
    await server.stop();
  }
}

/** The task queues a worker of these kinds serves, for its banner. */
export function queuesOf(kinds: QueueKind[]): string {
  const names = kinds.map((k) =>
    k === 'cpu' ? `"${cpuQueue(TASK_QUEUE)}" (${cpuSlots().slots} at once)` : `"${queueFor(TASK_QUEUE, k)}"`,
  );
  return `task queue${names.length > 1 ? 's' : ''} ${names.join(', ')}`;
}

async function main() {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--cpu-only' && a !== '--io-only');
  if (unknown.length || args.length > 1) {
    console.error(`usage: npm run worker [-- --cpu-only | --io-only]  (got ${args.join(' ')})`);
    process.exit(2);
  }
  const role: WorkerRole = args[0] === '--cpu-only' ? 'cpu' : args[0] === '--io-only' ? 'io' : 'both';
  await runWorkerUntilStopped(
    (server) =>
      `funnelcast worker on ${server.address}, ${queuesOf(kindsOf(role))}${server.uiUrl ? `, Web UI ${server.uiUrl}` : ''}\n`,
    role,
  );
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
