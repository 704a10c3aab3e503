/**
 * Preloaded into every Node process of a benchmarked run (NODE_OPTIONS=--require): records the main thread's
 * maximum event-loop delay (perf_hooks.monitorEventLoopDelay) and writes it, with the process's argv, to
 * $FUNNELCAST_LOOP_DELAY_DIR/<pid>.json every second and at exit, with when its longest block ended. The bench
 * reads the worst of them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const dir = process.env.FUNNELCAST_LOOP_DELAY_DIR;
if (dir && isMainThread) {
  mkdirSync(dir, { recursive: true });
  const h = monitorEventLoopDelay({ resolution: 20 });
  h.enable();
  // When the worst block ended (a timer that fires late by the block's length): the bench names the step it fell in.
  const TICK_MS = 50;
  let last = Date.now();
  let worst = { ms: 0, endedAt: '' };
  setInterval(() => {
    const now = Date.now();
    const late = now - last - TICK_MS;
    if (late > worst.ms) worst = { ms: late, endedAt: new Date(now).toISOString() };
    last = now;
  }, TICK_MS).unref();
  const write = () =>
    writeFileSync(
      join(dir, `${process.pid}.json`),
      JSON.stringify({
        pid: process.pid,
        argv: process.argv.slice(1),
        maxMs: h.max / 1e6,
        p99Ms: h.percentile(99) / 1e6,
        worstBlock: worst,
      }),
    );
  setInterval(write, 1000).unref();
  process.on('exit', write);
}
