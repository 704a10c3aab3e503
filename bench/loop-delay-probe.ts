/**
 * Preloaded into every Node process of a benchmarked run (NODE_OPTIONS=--require): records the main thread's
 * maximum event-loop delay (perf_hooks.monitorEventLoopDelay) and writes it, with the process's argv, to
 * $FUNNELCAST_LOOP_DELAY_DIR/<pid>.json every second and at exit. The bench reads the worst of them.
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
  const write = () =>
    writeFileSync(
      join(dir, `${process.pid}.json`),
      JSON.stringify({
        pid: process.pid,
        argv: process.argv.slice(1),
        maxMs: h.max / 1e6,
        p99Ms: h.percentile(99) / 1e6,
      }),
    );
  setInterval(write, 1000).unref();
  process.on('exit', write);
}
