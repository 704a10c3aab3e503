/**
 * `funnelcast deliveries --pipeline <name>`: every webhook delivery of the pipeline's lists (when, which run and
 * list, where, sync mode, rows, batches, checksum, outcome), from the append-only delivery log.
 */
import { parseArgs } from 'node:util';
import { loadPipeline } from '../pipelines/load';
import { funnelcastHome } from '../infra/paths';
import { deliveryPaths, readDeliveryLog } from '../segments/webhook';
import { EXIT, print, table } from './format';

export const DELIVERIES_HELP = `Usage:
  funnelcast deliveries [--pipeline name] [--limit n] [--json]

Every delivery of the pipeline's lists to its webhook (export.webhook), newest first: when, run, list,
destination host, mode (full or changes), rows, batches, checksum of the rows sent and the outcome
(delivered, or dead-letter with the reason; dead-letter records are under <home>/deliveries/<pipeline>/).

Examples:
  funnelcast deliveries --pipeline sample
  funnelcast deliveries --pipeline sample --json | jq '.[] | select(.outcome != "delivered")'
`;

export async function deliveriesCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      pipeline: { type: 'string', default: 'sample' },
      limit: { type: 'string', default: '50' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    print(DELIVERIES_HELP);
    return EXIT.ok;
  }
  const name = loadPipeline(values.pipeline!).definition.name;
  const log = readDeliveryLog(deliveryPaths(funnelcastHome(), name).log)
    .reverse()
    .slice(0, Math.max(1, Number(values.limit) || 50));
  if (values.json) {
    print(JSON.stringify(log, null, 2) + '\n');
    return EXIT.ok;
  }
  if (!log.length) {
    print(`No deliveries yet for ${name} (the pipeline delivers when export.webhook is set).\n`);
    return EXIT.ok;
  }
  print(
    table(
      ['when', 'run', 'list', 'where', 'mode', 'rows', 'batches', 'checksum', 'outcome'],
      log.map((l) => [
        l.at.slice(0, 19).replace('T', ' '),
        l.runId,
        l.list,
        l.destination,
        l.mode,
        l.rows,
        l.batches,
        l.checksum.slice(0, 12) || '—',
        l.outcome + (l.reason ? `: ${l.reason}` : ''),
      ]),
    ) + '\n',
  );
  return EXIT.ok;
}
