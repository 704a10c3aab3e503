import { basename } from 'node:path';
import { renameSync, rmSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { quoteLiteral } from '../warehouse/db';

export /** COPY to a temp name, then rename: readers never see a half-written export. */
async function copyAtomic(
  conn: DuckDBConnection,
  select: string,
  file: string,
  format: 'csv' | 'parquet',
  crashBeforeRenameOf?: string,
) {
  const tmp = `${file}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  const options = format === 'csv' ? `(FORMAT csv, HEADER true)` : `(FORMAT parquet, COMPRESSION zstd)`;
  await conn.run(`COPY (${select}) TO ${quoteLiteral(tmp)} ${options}`);
  if (crashBeforeRenameOf && basename(file) === crashBeforeRenameOf)
    throw new Error(`injected crash before renaming ${basename(tmp)} to ${basename(file)}`);
  renameSync(tmp, file);
}

