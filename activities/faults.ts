/**
 * Fault injection for the reliability tests (test/faults): FUNNELCAST_FAULTS="activity:mode[:n],…" where mode is
 * `transient` (fail the first n attempts, retryable) or `permanent` (fail every attempt, non-retryable).
 * Read at call time, so a test can set it for one worker process. Without the variable nothing is wrapped.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';

export interface Fault {
  activity: string;
  /** crashBeforeChampion is not thrown here: the publish activity reads it (registry crash injection). */
  mode: 'transient' | 'permanent' | 'crashBeforeChampion';
  attempts: number;
}

export function parseFaults(spec: string | undefined): Fault[] {
  if (!spec) return [];
  return spec.split(',').map((part) => {
    const [activity, mode, n] = part.trim().split(':');
    if (mode !== 'transient' && mode !== 'permanent' && mode !== 'crashBeforeChampion')
      throw new Error(
        `FUNNELCAST_FAULTS: "${part}" must be activity:transient[:n], activity:permanent or publishModel:crashBeforeChampion[:n]`,
      );
    return { activity, mode, attempts: Number(n ?? 1) };
  });
}

export function withFaults<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  const wrapped: Record<string, (...args: never[]) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      const fault = parseFaults(process.env.FUNNELCAST_FAULTS).find((f) => f.activity === name);
      if (fault && fault.mode !== 'crashBeforeChampion') {
        const attempt = Context.current().info.attempt;
        if (fault.mode === 'permanent')
          throw ApplicationFailure.nonRetryable(`injected permanent failure in ${name}`, 'InjectedFault');
        if (attempt <= fault.attempts)
          throw ApplicationFailure.retryable(
            `injected transient failure in ${name} (attempt ${attempt})`,
            'InjectedFault',
          );
      }
      return fn(...args);
    };
  }
  return wrapped as T;
}
