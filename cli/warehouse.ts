/**
 * `funnelcast warehouse snapshot|restore --pipeline <name>`: the data worker's DuckDB file to and from the
 * artifact store (warehouse/snapshot.ts), so a warehouse worker can be started on another machine (docs/deploy.md).
 */
import { parseArgs } from 'node:util';
import { paths } from '../infra/paths';
import { loadPipeline } from '../pipelines/load';
import { openCache, openStore } from '../store';
import { restoreWarehouse, snapshotWarehouse } from '../warehouse/snapshot';
import { EXIT, print, UsageError } from './format';

export const WAREHOUSE_HELP = `Usage: funnelcast warehouse snapshot|restore --pipeline <name|file>

  snapshot   exports the pipeline's DuckDB file (tables as Parquet) to the artifact store ($FUNNELCAST_STORE) under
             warehouse/<pipeline>/snapshots/<time>/, and points warehouse/<pipeline>/latest.json at it
  restore    builds $FUNNELCAST_HOME/warehouse/<pipeline>.duckdb on this machine from the latest snapshot (refused
             when the file exists); the next extract then loads only what is new

Example:
  funnelcast warehouse snapshot --pipeline sample      # on the data machine, after an extract
  FUNNELCAST_STORE=s3://bucket/funnelcast funnelcast warehouse restore --pipeline sample   # on the new one
`;

export async function warehouseCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      pipeline: { type: 'string', default: 'sample' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    print(WAREHOUSE_HELP);
    return EXIT.ok;
  }
  const action = positionals[0];
  if (action !== 'snapshot' && action !== 'restore')
    throw new UsageError(`funnelcast warehouse ${action ?? ''}: expected "snapshot" or "restore"`);
  const pipeline = loadPipeline(values.pipeline!).definition.name;
  const database = paths.warehouse(pipeline);
  const store = openStore();
  try {
    const p =
      action === 'snapshot'
        ? await snapshotWarehouse({ database, pipeline, store })
        : await restoreWarehouse({ database, pipeline, store, cache: openCache() });
    const what = action === 'snapshot' ? `Snapshot of ${database} written to` : `Restored ${database} from`;
    print(`${what} ${store.url}/${p.prefix} (${p.files} files, ${(p.bytes / 1024 ** 2).toFixed(1)} MiB, ${p.at})\n`);
  } finally {
    store.close();
  }
  return EXIT.ok;
}
