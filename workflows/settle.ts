/**
 * Waiting for activities that run side by side (CV folds, the models of the train step). Promise.all rejects at the
 * first cancelled activity, and the run would then close as CANCELLED while its other activities still run and
 * write; on a cancellation this waits until every one of them has stopped (each is cancelled with
 * WAIT_CANCELLATION_COMPLETED) before passing it on. Any other failure fails the run at once, as before.
 */
import { isCancellation } from '@temporalio/workflow';

export async function allStopped<T extends readonly unknown[]>(
  promises: [...{ [K in keyof T]: Promise<T[K]> }],
): Promise<T> {
  try {
    return (await Promise.all(promises)) as unknown as T;
  } catch (e) {
    if (isCancellation(e)) await Promise.allSettled(promises);
    throw e;
  }
}
