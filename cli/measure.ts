/** `funnelcast measure`: the measured lift, ROI and CAC of a run's delivered campaigns (lift/run.ts). */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadPipeline } from '../pipelines/load';
import { paths, runCutoffStamp } from '../infra/paths';
import { withDuckDB } from '../warehouse/db';
import { measureRun } from '../lift/run';
import { measurementLines } from '../lift/words';
import { EXIT, print } from './format';

export const MEASURE_HELP = `Usage: funnelcast measure --pipeline <name|file> [--run <id>] [--json]

Measures each campaign a run delivered: treatment (the delivered list) against its control group (held out,
never delivered) over the measurement window after the run's cutoff (campaigns[].measureWindow, default the
label horizon), on the events loaded now: conversion rates and revenue per user, absolute and relative lift with
95 % intervals (two-proportion for rates, Welch for revenue per user), incremental conversions and revenue,
cost, ROI and CAC from campaigns[].economics ("not measurable" with the reason when the lift's interval
contains 0). A window that has not passed in the loaded data says when it can be measured; a campaign without
a control group says so. Results go to <run>/exports/measurement.json and the warehouse's campaign_results table.
Without --run: the latest run of the pipeline that exported lists. Run \`funnelcast extract\` first to load new events.

Examples:
  funnelcast measure --pipeline sample
  funnelcast measure --pipeline sample --run sample-20240430T000000Z-3f9c2a61d0 --json
`;

/** The latest run (by cutoff, then time written) of the pipeline with an exports manifest. */
function latestExportedRun(pipeline: string): string | null {
  const dir = dirname(paths.runDir(pipeline, 'x'));
  if (!existsSync(dir)) return null;
  const runs = readdirSync(dir)
    .filter((d) => existsSync(join(dir, d, 'exports', 'manifest.json')))
    .sort((a, b) => (runCutoffStamp(a) < runCutoffStamp(b) ? -1 : runCutoffStamp(a) > runCutoffStamp(b) ? 1 : 0));
  return runs.length ? runs[runs.length - 1] : null;
}

export async function measureCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      pipeline: { type: 'string', default: 'sample' },
      run: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    print(MEASURE_HELP);
    return EXIT.ok;
  }
  const def = loadPipeline(values.pipeline!).definition;
  const runId = values.run ?? latestExportedRun(def.name);
  const notFound = (m: string) => Object.assign(new Error(m), { name: 'NotFoundError' });
  if (!runId) throw notFound(`pipeline ${def.name} has no run with exported lists yet: \`funnelcast run\` first`);
  const runDir = paths.runDir(def.name, runId);
  if (!existsSync(runDir)) throw notFound(`no run ${runId} of pipeline ${def.name} (no folder ${runDir})`);
  const m = await withDuckDB(paths.warehouse(def.name), (conn) => measureRun(conn, def, runId, runDir));
  if (values.json) {
    print(JSON.stringify(m, null, 2) + '\n');
    return EXIT.ok;
  }
  print(`Run ${m.runId} (cutoff ${m.cutoff}; loaded data up to ${m.dataEnd ?? '—'})\n`);
  for (const c of m.campaigns)
    print(
      measurementLines(c)
        .map((l) => `  ${l}`)
        .join('\n') + '\n',
    );
  print(`Written to ${m.path} and the campaign_results table.\n`);
  return EXIT.ok;
}
