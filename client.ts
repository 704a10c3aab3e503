/**
 * The `funnelcast` command line. Each command lives in cli/<command>.ts and is loaded only when used, so
 * `funnelcast evaluate` does not pay for Temporal and `funnelcast run` does not pay for TensorFlow.
 */
import { closest, EXIT, exitWhenFlushed, flagsIn, helpOf, UsageError } from './cli/format';
import { exitCodeOf, jsonFailures } from './cli/failure';

type Command = { summary: string; load: () => Promise<(argv: string[]) => Promise<number>> };

const COMMANDS: Record<string, Command> = {
  run: {
    summary: 'run the pipeline once (extract → features → train → publish → score → export)',
    load: async () => (await import('./cli/run')).runCommand,
  },
  up: {
    summary: 'start the embedded Temporal server + a worker and keep them running (for schedules)',
    load: async () => (await import('./cli/up')).upCommand,
  },
  worker: {
    summary: 'serve chosen task queues (--queues workflows,io,cpu,warehouse) on this machine',
    load: async () => (await import('./cli/worker')).workerCommand,
  },
  warehouse: {
    summary: "snapshot a pipeline's DuckDB warehouse to the artifact store, or restore it on this machine",
    load: async () => (await import('./cli/warehouse')).warehouseCommand,
  },
  extract: {
    summary: "load a pipeline's sources into DuckDB and print the row accounting",
    load: async () => (await import('./cli/extract')).extractCommand,
  },
  features: {
    summary: 'write the feature table at a cutoff (Parquet or CSV)',
    load: async () => (await import('./cli/features')).featuresCommand,
  },
  generate: {
    summary: 'generate synthetic events (calibrated to RetailRocket)',
    load: async () => (await import('./cli/generate')).generateCommand,
  },
  evaluate: {
    summary: 'cross-validate a model on any feature table you bring',
    load: async () => (await import('./cli/evaluate')).evaluateCommand,
  },
  models: {
    summary: 'list, show, promote and roll back model versions; the champion history',
    load: async () => (await import('./cli/models')).modelsCommand,
  },
  schedule: {
    summary: 'create, list, describe, update, pause, unpause, trigger, delete retrain schedules',
    load: async () => (await import('./cli/schedule')).scheduleCommand,
  },
  backfill: {
    summary: 'run the pipeline for each past cutoff in a range',
    load: async () => (await import('./cli/backfill')).backfillCommand,
  },
  serve: {
    summary: "serve the champion's scores over HTTP (real-time scoring, campaign membership, metrics)",
    load: async () => (await import('./cli/serve')).serveCommand,
  },
  status: { summary: 'show the live progress of a run', load: async () => (await import('./cli/runs')).statusCommand },
  runs: { summary: 'list recent runs', load: async () => (await import('./cli/runs')).runsCommand },
  cancel: { summary: 'cancel a run cleanly', load: async () => (await import('./cli/runs')).cancelCommand },
  rerun: {
    summary: 're-execute a run from a step, reusing the earlier steps when the inputs are the same',
    load: async () => (await import('./cli/rerun')).rerunCommand,
  },
  measure: {
    summary: "measure a run's delivered campaigns: lift vs control with 95 % intervals, ROI, CAC",
    load: async () => (await import('./cli/measure')).measureCommand,
  },
  deliveries: {
    summary: "every webhook delivery of a pipeline's lists: when, where, rows, checksum, outcome",
    load: async () => (await import('./cli/deliveries')).deliveriesCommand,
  },
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'funnelcast: customer-behaviour events → trained models → campaign-ready segments, on Temporal + DuckDB',
    '',
    'Usage: funnelcast <command> [options]      (funnelcast <command> --help for details and examples)',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Environment: TEMPORAL_ADDRESS (use that server instead of the embedded one), FUNNELCAST_HOME (state folder,',
    'default ./.funnelcast), TEMPORAL_CLI (path to the temporal binary).',
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help());
    return name ? EXIT.ok : EXIT.usage;
  }
  const command = COMMANDS[name];
  if (!command) {
    const guess = closest(name, Object.keys(COMMANDS));
    process.stderr.write(`Unknown command "${name}".${guess ? ` Did you mean "${guess}"?` : ''}\n\n${help()}`);
    return EXIT.usage;
  }
  const fn = await command.load();
  try {
    return await fn(rest);
  } catch (e) {
    // node:util parseArgs names the unknown flag; suggest the nearest one the command's help mentions.
    const flag = (e as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && /'(-[^']*)'/.exec(String(e));
    if (!flag) throw e;
    const guess = closest(flag[1], flagsIn(await helpOf(fn)));
    throw new UsageError(
      `unknown option ${flag[1]}${guess ? `. Did you mean ${guess}?` : ''} (see: funnelcast ${name} --help)`,
    );
  }
}

if (require.main === module || process.argv[1]?.endsWith('funnelcast.js') || process.argv[1]?.endsWith('funnelcast')) {
  const json = process.argv.includes('--json') ? jsonFailures() : undefined;
  main(process.argv.slice(2)).then(
    (code) => {
      json?.report(code);
      exitWhenFlushed(code);
    },
    (e: Error) => {
      const code = exitCodeOf(e);
      process.stderr.write(`funnelcast: ${e.message}\n`);
      if (code === EXIT.failed && process.env.FUNNELCAST_DEBUG) process.stderr.write(`${e.stack}\n`);
      json?.report(code, e);
      exitWhenFlushed(code);
    },
  );
}
