import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { parsePipeline, type LoadedPipeline } from '../../pipelines/load';
import type { PipelineInput } from '../../pipelines/schema';

export function tempDir(prefix = 'fc-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A LoadedPipeline for a definition written inline in a test (sources relative to `baseDir`). */
export function inlinePipeline(def: PipelineInput, baseDir: string): LoadedPipeline {
  const file = join(baseDir, `${def.name}.json`);
  writeFileSync(file, JSON.stringify(def));
  return { definition: parsePipeline(def, file), file, baseDir, hash: 'test' };
}

export async function scalar(conn: DuckDBConnection, sql: string): Promise<number> {
  return Number((await conn.runAndReadAll(sql)).getRows()[0][0]);
}
