/** `funnelcast extract`: only the extraction, with its row accounting (for people debugging data). */
import { parseArgs } from 'node:util';
import { loadPipeline } from '../pipelines/load';
import { paths } from '../infra/paths';
import { withDuckDB } from '../warehouse/db';
import { extractPipeline } from '../warehouse/extract';
import { EXIT, int, table, print } from './format';

export const EXTRACT_HELP = `Usage: funnelcast extract --pipeline <name|file> [--json]

Loads the pipeline's sources into its DuckDB file (${'$'}FUNNELCAST_HOME/warehouse/<pipeline>.duckdb) and prints the
accounting: read = loaded + duplicates + quarantined, per source and per file, and the quarantine reasons.
Files already loaded with the same content are skipped; appended rows are added.

Examples:
  funnelcast extract --pipeline online_retail
  funnelcast extract --pipeline ./my-pipeline.json --json
`;

export async function extractCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      pipeline: { type: 'string', default: 'sample' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    print(EXTRACT_HELP);
    return EXIT.ok;
  }
  const loaded = loadPipeline(values.pipeline!);
  const s = await withDuckDB(paths.warehouse(loaded.definition.name), (conn) => extractPipeline(conn, loaded));
  if (values.json) {
    print(JSON.stringify(s, null, 2) + '\n');
    return EXIT.ok;
  }
  const rows = s.sources.flatMap((src) => [
    [src.source, 'all files', int(src.read), int(src.loaded), int(src.duplicates), int(src.quarantined)],
    ...src.files.map((f) => [
      '',
      `${f.file}${f.skipped ? ' (already loaded)' : ''}`,
      int(f.read),
      int(f.loaded),
      int(f.duplicates),
      int(f.quarantined),
    ]),
  ]);
  print(`Extracted ${s.pipeline} into ${s.database} in ${s.seconds.toFixed(1)} s\n\n`);
  print(table(['source', 'file', 'read', 'loaded', 'duplicates', 'quarantined'], rows) + '\n\n');
  for (const src of s.sources) {
    const reasons = Object.entries(src.quarantineReasons).sort((a, b) => b[1] - a[1]);
    if (reasons.length)
      print(
        `Quarantined ${src.source} rows by reason (see the quarantine table):\n${reasons.map(([r, n]) => `  ${int(n).padStart(10)}  ${r}`).join('\n')}\n`,
      );
  }
  print(`\nWarehouse now: ${int(s.events)} events of ${int(s.users)} users, ${s.minTs ?? '—'} … ${s.maxTs ?? '—'}\n`);
  return EXIT.ok;
}
