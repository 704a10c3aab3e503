/**
 * How the retrain workflow calls its activities: the options of the I/O and CPU queues, and the proxy that takes
 * the worker's event-loop measurement off each result (worker.ts adds it) and records it per step.
 */
import { ActivityCancellationType } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { cpuQueue, EVENT_LOOP_FIELD } from './queues';

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
 * fold retried), on the CPU queue of the run's task queue (workflows/queues.ts).
 */
export const cpuOptions = (taskQueue: string) =>
  ({
    taskQueue: cpuQueue(taskQueue),
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
