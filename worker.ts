/**
 * The funnelcast worker: runs the workflows and activities on the `funnelcast` task queue. Only this file and
 * the CLI build the activities' dependencies (createActivities); workflows see their types only.
 *
 *   npm run worker                         # against TEMPORAL_ADDRESS, or the embedded dev server (started if needed)
 */
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from './activities';
import { ensureServer, TASK_QUEUE, temporalNamespace } from './infra/temporal';

export interface WorkerSettings {
  connection: NativeConnection;
  taskQueue?: string;
  namespace?: string;
  /** Concurrency limits: training is CPU-bound and parallel inside (worker threads), so keep it low. */
  maxConcurrentActivityTaskExecutions?: number;
  identity?: string;
}

export async function createWorker(s: WorkerSettings): Promise<Worker> {
  const options: WorkerOptions = {
    connection: s.connection,
    namespace: s.namespace ?? temporalNamespace(),
    taskQueue: s.taskQueue ?? TASK_QUEUE,
    workflowsPath: require.resolve('./workflows'),
    activities: createActivities(),
    maxConcurrentActivityTaskExecutions:
      s.maxConcurrentActivityTaskExecutions ?? Number(process.env.FUNNELCAST_ACTIVITY_CONCURRENCY ?? 4),
    // Cancellation reaches an activity only in the answer to one of its heartbeats, and the SDK sends heartbeats at
    // most every 0.8 × heartbeatTimeout (24 s for training) by default: send them every second, so a cancel stops
    // training within seconds (README: 5 s).
    maxHeartbeatThrottleInterval: '1 second',
    defaultHeartbeatThrottleInterval: '1 second',
    ...(s.identity ? { identity: s.identity } : {}),
  };
  return Worker.create(options);
}

/**
 * Runs a worker against TEMPORAL_ADDRESS or the embedded dev server (started if needed) until SIGINT/SIGTERM.
 * `banner` receives the server so callers can say where things are.
 */
export async function runWorkerUntilStopped(
  banner: (server: { address: string; uiUrl: string }) => string,
): Promise<void> {
  const server = await ensureServer();
  const connection = await NativeConnection.connect({ address: server.address });
  const worker = await createWorker({ connection });
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

async function main() {
  await runWorkerUntilStopped(
    (server) =>
      `funnelcast worker on ${server.address}, task queue "${TASK_QUEUE}"${server.uiUrl ? `, Web UI ${server.uiUrl}` : ''}\n`,
  );
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
