/**
 * What every activity needs from Temporal, in one place: a heartbeat that also reports progress, the
 * cancellation signal, and the rule that bad input fails the run at once instead of being retried.
 */
import { ApplicationFailure, CancelledFailure, Context, type Info as ActivityInfo } from '@temporalio/activity';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ZodError } from 'zod';
import { PipelineDefinitionError } from '../pipelines/load';
import { writeFileAtomic, type Writer } from '../infra/atomic';

/** What an activity body running on a worker thread (activities/offthread.ts) has instead of Context.current(). */
export interface ThreadActivityContext {
  info: Pick<ActivityInfo, 'attempt' | 'activityId' | 'activityType' | 'workflowExecution' | 'heartbeatDetails'>;
  heartbeat(details?: unknown): void;
  signal: AbortSignal;
}

let onThread: ThreadActivityContext | null = null;

/** Called once in an activity thread before the body runs: the helpers below then use `c`. */
export function useThreadContext(c: ThreadActivityContext): void {
  onThread = c;
}

export function heartbeat(details?: unknown): void {
  if (onThread) onThread.heartbeat(details);
  else Context.current().heartbeat(details);
}

export function cancellationSignal(): AbortSignal {
  return onThread ? onThread.signal : Context.current().cancellationSignal;
}

/** This attempt's number (1 for the first), on the main thread or an activity thread. */
export function activityAttempt(): number {
  return (onThread ? onThread.info : Context.current().info).attempt;
}

/** The details of the last heartbeat of the previous attempt: where a retried activity resumes from. */
export function lastHeartbeat<T>(): T | undefined {
  return (onThread ? onThread.info : Context.current().info).heartbeatDetails as T | undefined;
}

/** Errors caused by the input (definition, files, columns) will fail again on retry: make them non-retryable. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/**
 * When Temporal cancelled this attempt, whatever the work threw on seeing the signal ('training cancelled', a
 * writer's abort) is reported as the cancellation it is (the signal's CancelledFailure): the workflow then sees the
 * activity cancelled, not failed and retried. Other errors pass through.
 */
export function asCancellation(e: unknown): unknown {
  // The thread-aware signal: on an activity thread there is no Context.current() (activities/offthread.ts).
  const signal = cancellationSignal();
  return signal.aborted && signal.reason instanceof CancelledFailure ? signal.reason : e;
}

export async function failFastOnBadInput<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (caught) {
    const e = asCancellation(caught);
    if (e !== caught) throw e;
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

/**
 * Heartbeats every `ms` while a long promise runs (for steps whose library gives no progress callback). Every
 * second: a cancel reaches the activity only in the answer to a heartbeat, so this bounds how long it waits.
 */
export async function withHeartbeat<T>(work: Promise<T>, details: () => unknown, ms = 1_000): Promise<T> {
  const timer = setInterval(() => heartbeat(details()), ms);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/** One attempt of an activity as the writer of a set of files (see claimFiles). */
export interface AttemptWriter extends Required<Writer> {
  /** Throws when the attempt must stop: Temporal cancelled it, or a newer attempt claimed the same files. */
  check(): void;
  /** Stops watching and, when the claim is still this attempt's, removes it. */
  release(): void;
}

/**
 * Claims the files named `<name>.*` in `dir` for this attempt. The attempt's signal aborts when Temporal cancels it
 * (a cancel, a heartbeat timeout the server reports at the next heartbeat, a worker shutdown) or when a newer
 * attempt wrote its own claim: a timed-out attempt may still be running in this process when its retry starts
 * (its heartbeats stopped because it blocked the thread), and it must neither share temp files with the retry
 * (the tag, with the attempt number and a random part, goes into every temp name) nor replace what the retry
 * wrote (writers check the signal right before each rename). A retry is only scheduled after the previous attempt
 * was given up, so the latest claim is the one that counts.
 */
export function claimFiles(dir: string, name: string, everyMs = 1_000): AttemptWriter {
  const info = onThread ? onThread.info : Context.current().info;
  const tag = `a${info.attempt}-${randomBytes(3).toString('hex')}`;
  const token = `${info.workflowExecution?.workflowId ?? info.activityType}/${info.activityId}#${tag}`;
  const claimFile = join(dir, `${name}.attempt`);
  writeFileAtomic(claimFile, token, { tag });
  const superseded = new AbortController();
  const signal = AbortSignal.any([cancellationSignal(), superseded.signal]);
  const check = () => {
    if (!signal.aborted && readClaim(claimFile) !== token)
      superseded.abort(new Error(`a newer attempt claimed ${name} (${readClaim(claimFile) ?? 'claim removed'})`));
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason));
  };
  // Loops that only look at the signal (tree building, epochs) learn about a newer claim within a second.
  const timer = setInterval(() => {
    try {
      check();
    } catch {
      clearInterval(timer);
    }
  }, everyMs);
  timer.unref();
  return {
    tag,
    signal,
    check,
    release: () => {
      clearInterval(timer);
      if (readClaim(claimFile) === token) rmSync(claimFile, { force: true });
    },
  };
}

function readClaim(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}
