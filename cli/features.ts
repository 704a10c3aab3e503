/** `funnelcast features`: the feature table at a cutoff, as Parquet or CSV. */
import { parseArgs } from 'node:util';
import { parseDateOption } from './dates';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadPipeline } from '../pipelines/load';
import { paths } from '../infra/paths';
import { quoteLiteral, withDuckDB } from '../warehouse/db';
import { extractPipeline } from '../warehouse/extract';
import { buildFeatures, defaultCutoff } from '../warehouse/features';
import { parquetToArrow, writeArrowFile } from '../warehouse/arrow';
import { EXIT, int, pct, UsageError, print } from './format';

export const FEATURES_HELP = `Usage: funnelcast features --pipeline <p> [--cutoff <ISO date>] --out <file.parquet|file.csv|file.arrow> [--json]

Extracts (incrementally) and writes one row per user with user_id, the label (when the horizon has passed) and
every feature at the cutoff. Only events before the cutoff are used. Feature definitions: docs/features.md.
.arrow writes an Apache Arrow IPC file (for pyarrow, polars or arrow-js), with the same columns and nulls.

Example:
  funnelcast features --pipeline sample --cutoff 2024-04-30 --out /tmp/features.parquet
`;

export async function featuresCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      pipeline: { type: 'string', default: 'sample' },
      cutoff: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    print(FEATURES_HELP);
    return EXIT.ok;
  }
  if (!values.out || !/\.(parquet|csv|arrow)$/.test(values.out))
    throw new UsageError('--out must name a .parquet, .csv or .arrow file');
  const cutoffIso = values.cutoff ? parseDateOption('cutoff', values.cutoff) : undefined;
  const loaded = loadPipeline(values.pipeline!);
  const out = resolve(values.out);
  const tmp = mkdtempSync(join(tmpdir(), 'funnelcast-features-'));
  try {
    const r = await withDuckDB(paths.warehouse(loaded.definition.name), async (conn) => {
      await extractPipeline(conn, loaded);
      const cutoff = cutoffIso ? new Date(cutoffIso) : await defaultCutoff(conn, loaded.definition);
      const res = await buildFeatures(conn, loaded.definition, { cutoff, outDir: tmp, sequences: false });
      if (out.endsWith('.arrow')) writeArrowFile(await parquetToArrow(conn, res.featuresPath), out);
      else if (out.endsWith('.csv'))
        await conn.run(
          `COPY (SELECT * FROM read_parquet(${quoteLiteral(res.featuresPath)})) TO ${quoteLiteral(out)} (FORMAT csv, HEADER true)`,
        );
      else copyFileSync(res.featuresPath, out);
      return { ...res, cutoff: cutoff.toISOString(), out };
    });
    if (values.json)
      print(
        JSON.stringify(
          {
            out: r.out,
            cutoff: r.cutoff,
            users: r.users,
            labelled: r.labelled,
            labelRate: r.labelRate,
            features: r.featureNames,
            docs: r.featureDocs,
            customerAttributes: r.customerAttributes,
            funnel: r.funnel,
          },
          null,
          2,
        ) + '\n',
      );
    else
      print(
        `Wrote ${int(r.users)} users × ${r.featureNames.length} features at cutoff ${r.cutoff} to ${r.out} (label rate ${r.labelled ? pct(r.labelRate) : 'unknown: the horizon has not passed'})\n` +
          (r.customerAttributes === 'static'
            ? 'Customer attributes are declared static: the same values at every cutoff (not point-in-time).\n'
            : ''),
      );
    return EXIT.ok;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
