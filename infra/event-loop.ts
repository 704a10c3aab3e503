/**
 * The event-loop delay of this process while something runs: a blocked main thread is what makes Temporal time
 * out workflow tasks and heartbeats, so the worker measures it for every activity (worker.ts).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Starts measuring; `stop()` returns the maximum delay seen since, in ms (0 when no sample was taken). */
export function measureEventLoopDelay(resolutionMs = 10): { stop(): number } {
  const h = monitorEventLoopDelay({ resolution: resolutionMs });
  h.enable();
  let max: number | null = null;
  return {
    stop() {
      if (max === null) {
        h.disable();
        // The histogram's max is in ns; it counts the resolution's own wait, which is not a delay.
        max = h.count > 0 ? Math.max(0, Math.round((h.max / 1e6 - resolutionMs) * 10) / 10) : 0;
      }
      return max;
    },
  };
}
