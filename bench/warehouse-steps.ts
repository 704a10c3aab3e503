/**
 * `node dist/bench/warehouse-steps.js <pipeline.json> <warehouse.duckdb> [extract|features|both]`: extract, then the
 * feature tables at the default cutoff and at the training cutoff (as a run builds them), in this process, printing
 * the wall and CPU seconds (the whole process: DuckDB's threads included) of every DuckDB statement over 0.3 s and of
 * each step, and the worst event-loop delay. A diagnostic for issue 17's extract and features budget, not a suite:
 * the statement list says where the time goes. The pipeline file is e.g. the bench's bench_10m.json.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DuckDBConnection } from '@duckdb/node-api';
import { loadPipeline } from '../pipelines/load';
import { withDuckDB } from '../warehouse/db';
import { extractPipeline } from '../warehouse/extract';
import { buildFeatures, defaultCutoff, trainingCutoffFor } from '../warehouse/features';

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const since = (t: number, c: number) =>
  `${((performance.now() - t) / 1000).toFixed(1)} s wall ${(cpu() - c).toFixed(1)} CPU-s`;

/** Times every statement the connections of this process run (runAndReadAll calls run: counted once). */
function timeStatements(): void {
  const proto = DuckDBConnection.prototype as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const run = proto.run;
  let depth = 0;
  proto.run = async function (this: unknown, ...args: unknown[]) {
    const [t, c] = [performance.now(), cpu()];
    depth++;
    try {
      return await run.apply(this, args);
    } finally {
      depth--;
      const s = (performance.now() - t) / 1000;
      if (depth === 0 && s > 0.3)
        console.log(`  ${since(t, c)}  ${String(args[0]).replace(/\s+/g, ' ').slice(0, 140)}`);
    }
  };
}

async function main() {
  const [file, db, what = 'both'] = process.argv.slice(2);
  if (!file || !db)
    throw new Error('usage: warehouse-steps.js <pipeline.json> <warehouse.duckdb> [extract|features|both]');
  timeStatements();
  const delay = monitorEventLoopDelay({ resolution: 20 });
  delay.enable();
  const loaded = loadPipeline(file);
  const def = loaded.definition;
  await withDuckDB(db, async (conn) => {
    if (what !== 'features') {
      const [t, c] = [performance.now(), cpu()];
      const s = await extractPipeline(conn, loaded);
      const [src] = s.sources;
      console.log(
        `extract: ${since(t, c)}; read ${src.read} = loaded ${src.loaded} + duplicates ${src.duplicates} + quarantined ${src.quarantined}`,
      );
    }
    if (what === 'extract') return;
    const cutoff = await defaultCutoff(conn, def);
    for (const [at, dir] of [
      [cutoff, 'features'],
      [await trainingCutoffFor(conn, def, cutoff), 'training-features'],
    ] as const) {
      const [t, c] = [performance.now(), cpu()];
      const outDir = `${db}.out/${dir}`;
      const r = await buildFeatures(conn, def, { cutoff: at, outDir, sequences: false });
      console.log(`features at ${at.toISOString()}: ${since(t, c)}; ${r.users} users, ${r.positives} positives`);
    }
  });
  console.log(`event loop delayed at most ${(delay.max / 1e6).toFixed(0)} ms; process ${cpu().toFixed(1)} CPU-s`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
