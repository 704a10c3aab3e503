/**
 * How the retrain workflow calls its activities: the options of the I/O and CPU queues, and the proxy that takes
 * the worker's event-loop measurement off each result (worker.ts adds it) and records it per step.
 */
import { ActivityCancellationType, proxyActivities, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { activityKind, EVENT_LOOP_FIELD, queueFor, type QueueKind } from './queues';

/**
 * The activities with these options, each sent to the task queue of its kind (workflows/queues.ts): a warehouse
 * step reaches the worker that holds the DuckDB file whichever proxy the workflow calls it through.
 */
export function routed(options: ActivityOptions): Activities {
  // The run's queue is known only inside a workflow (module-level proxies exist before): looked up per call.
  const proxyOf = (kind: QueueKind) =>
    proxyActivities<Activities>({ ...options, taskQueue: queueFor(workflowInfo().taskQueue, kind) });
  return new Proxy({} as Activities, {
    get: (_target, name) =>
      typeof name === 'string' ? proxyOf(activityKind(name))[name as keyof Activities] : undefined,
  });
}

/**
 * Short I/O steps: retried quickly; invalid input fails at once (non-retryable failures from the activity). A
 * cancelled run waits until its activities have stopped (they see the cancel at their next heartbeat), so nothing
 * of it still runs or writes once it reports CANCELLED.
 */
export const ioOptions = {
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  startToCloseTimeout: '20 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
} as const;

/**
 * Training, scoring, segments: long, heartbeating (a killed worker is noticed within the heartbeat timeout and the
 * fold retried); each still goes to the queue of its kind (routed).
 */
export const cpuOptions = () =>
  ({
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    startToCloseTimeout: '4 hours',
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
  }) as const;

/**
 * The activities with the worker's event-loop delay taken off their results (EVENT_LOOP_FIELD) and recorded per
 * step: each result reaches the next step as the activity returned it.
 */
export function measured(acts: Activities, begin: () => (ms: number) => void): Activities {
  return new Proxy(acts, {
    get(target, name) {
      const fn = Reflect.get(target, name) as unknown;
      if (typeof fn !== 'function') return fn;
      return async (...args: unknown[]) => {
        const record = begin();
        const r = (await (fn as (...a: unknown[]) => Promise<unknown>)(...args)) as Record<string, unknown> | null;
        if (r && typeof r === 'object' && typeof r[EVENT_LOOP_FIELD] === 'number') {
          record(r[EVENT_LOOP_FIELD] as number);
          delete r[EVENT_LOOP_FIELD];
        }
        return r;
      };
    },
  });
}
