/**
 * The measurement step of a run: every earlier run of the pipeline that delivered campaign lists is measured on
 * the data loaded now (lift/run.ts), until each of its campaigns has a final answer (measured, or no control
 * group); sends whose window has not passed yet are measured again by a later run. Returns only references and
 * small figures.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LoadedPipeline } from '../pipelines/load';
import { paths, runCutoffStamp } from '../infra/paths';
import { withDuckDB } from '../warehouse/db';
import { measureRun, type RunMeasurement } from '../lift/run';
import type { MeasuredCampaignRef } from '../workflows/types';
import { failFastOnBadInput, withHeartbeat } from './context';

/** Earlier runs (by cutoff) with exports whose measurement is missing or still has a pending campaign. */
function runsToMeasure(runDir: string): string[] {
  const parent = dirname(runDir);
  const mine = runCutoffStamp(runDir.slice(parent.length + 1));
  return readdirSync(parent)
    .filter((d) => runCutoffStamp(d) < mine && existsSync(join(parent, d, 'exports', 'manifest.json')))
    .filter((d) => {
      const done = join(parent, d, 'exports', 'measurement.json');
      if (!existsSync(done)) return true;
      return (JSON.parse(readFileSync(done, 'utf8')) as RunMeasurement).campaigns.some((c) => c.status === 'pending');
    })
    .sort();
}

export async function measureCampaigns(input: {
  loaded: LoadedPipeline;
  runDir: string;
}): Promise<MeasuredCampaignRef[]> {
  return failFastOnBadInput(async () => {
    const def = input.loaded.definition;
    const runs = existsSync(dirname(input.runDir)) ? runsToMeasure(input.runDir) : [];
    if (!runs.length) return [];
    let done = 0;
    const measured = await withHeartbeat(
      withDuckDB(paths.warehouse(def.name), async (conn) => {
        const out: RunMeasurement[] = [];
        for (const runId of runs) {
          out.push(await measureRun(conn, def, runId, paths.runDir(def.name, runId)));
          done++;
        }
        return out;
      }),
      () => ({ step: 'measure', runs: runs.length, done }),
    );
    return measured.flatMap((m) =>
      m.campaigns.map((c) => ({
        runId: m.runId,
        campaign: c.campaign,
        cutoff: m.cutoff,
        status: c.status,
        reason: c.reason,
        lift: c.result
          ? {
              estimate: c.result.absoluteLift.estimate,
              low: c.result.absoluteLift.low,
              high: c.result.absoluteLift.high,
            }
          : null,
        measurementPath: m.path,
      })),
    );
  });
}
