/**
 * What every activity needs from Temporal, in one place: a heartbeat that also reports progress, the
 * cancellation signal, and the rule that bad input fails the run at once instead of being retried.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ZodError } from 'zod';
import { PipelineDefinitionError } from '../pipelines/load';

export function heartbeat(details?: unknown): void {
  Context.current().heartbeat(details);
}

export function cancellationSignal(): AbortSignal {
  return Context.current().cancellationSignal;
}

/** The details of the last heartbeat of the previous attempt: where a retried activity resumes from. */
export function lastHeartbeat<T>(): T | undefined {
  return Context.current().info.heartbeatDetails as T | undefined;
}

/** Errors caused by the input (definition, files, columns) will fail again on retry: make them non-retryable. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

export async function failFastOnBadInput<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (
      e instanceof PipelineDefinitionError ||
      e instanceof ZodError ||
      e instanceof InputError ||
      (e as Error)?.name === 'InputError'
    ) {
      throw ApplicationFailure.nonRetryable((e as Error).message, (e as Error).name);
    }
    throw e;
  }
}

/** Heartbeats every `ms` while a long promise runs (for steps whose library gives no progress callback). */
export async function withHeartbeat<T>(work: Promise<T>, details: () => unknown, ms = 5_000): Promise<T> {
  const timer = setInterval(() => heartbeat(details()), ms);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}
