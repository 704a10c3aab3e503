/**
 * One side of the features benchmark in its own process, so its peak memory (maxRSS) is its own:
 *   node features-child.js ours   <pipeline.json> <cutoff> <db> <outDir> <statements.json>
 *     runs extractPipeline + buildFeatures on a file-backed warehouse (as the product does) and records every
 *     SQL statement it sent, with its parameters;
 *   node features-child.js replay <statements.json> <db>
 *     the floor: the very same statements, sent straight to a bare DuckDB connection with nothing around them.
 * Prints one JSON line: { seconds, maxRssMB, read?, users? }.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { DuckDBConnection } from '@duckdb/node-api';
import { parsePipeline, type LoadedPipeline } from '../../pipelines/load';
import { withDuckDB } from '../../warehouse/db';
import { extractPipeline } from '../../warehouse/extract';
import { buildFeatures } from '../../warehouse/features';

type Statement = [sql: string, params?: Record<string, unknown>];

function clean(db: string) {
  for (const f of [db, `${db}.wal`]) rmSync(f, { force: true });
}

/** Records what the pipeline sends to DuckDB (bench only: wraps the two methods the warehouse code uses). */
function recordStatements(): Statement[] {
  const log: Statement[] = [];
  const proto = DuckDBConnection.prototype as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  for (const m of ['run', 'runAndReadAll']) {
    const orig = proto[m];
    proto[m] = function (this: unknown, sql: unknown, params?: unknown) {
      log.push([String(sql), params as Record<string, unknown> | undefined]);
      return orig.call(this, sql, params);
    };
  }
  return log;
}

async function main() {
  const [mode, ...a] = process.argv.slice(2);
  if (mode === 'ours') {
    const [pipelineFile, cutoff, db, outDir, statementsFile] = a;
    const raw = JSON.parse(readFileSync(pipelineFile, 'utf8')) as Record<string, unknown>;
    const loaded: LoadedPipeline = { definition: parsePipeline(raw), file: pipelineFile, baseDir: '/', hash: 'bench' };
    clean(db);
    const log = recordStatements();
    const t = performance.now();
    const r = await withDuckDB(db, async (conn) => {
      const s = await extractPipeline(conn, loaded);
      const f = await buildFeatures(conn, loaded.definition, { cutoff: new Date(cutoff), outDir });
      return { read: s.sources[0].read, users: f.users };
    });
    const seconds = (performance.now() - t) / 1000;
    writeFileSync(statementsFile, JSON.stringify(log));
    console.log(JSON.stringify({ seconds, maxRssMB: process.resourceUsage().maxRSS / 1024, ...r }));
  } else if (mode === 'replay') {
    const [statementsFile, db] = a;
    const log = JSON.parse(readFileSync(statementsFile, 'utf8')) as Statement[];
    clean(db);
    const t = performance.now();
    await withDuckDB(db, async (conn) => {
      for (const [sql, params] of log) await conn.run(sql, params as never);
    });
    const seconds = (performance.now() - t) / 1000;
    console.log(JSON.stringify({ seconds, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
  } else throw new Error(`unknown mode ${mode}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
