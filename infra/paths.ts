import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Every file the product writes lives under one state folder (default `./.funnelcast`, git-ignored), so that
 * a run can be inspected, copied or deleted as a whole. Override with FUNNELCAST_HOME.
 *
 *   <home>/warehouse/<pipeline>.duckdb          extracted events (one DuckDB file per pipeline)
 *   <home>/runs/<pipeline>/<runId>/             everything one run produced (runId = pipeline-cutoff-contentkey)
 *   <home>/registry/<pipeline>/                 model versions and the champion pointer
 *   <home>/temporal/dev-server.sqlite           the embedded Temporal server's persistence
 *   <home>/exports/<export.destination>/        the latest campaign lists, when the pipeline asks for delivery
 */
export function funnelcastHome(): string {
  return resolve(process.env.FUNNELCAST_HOME ?? join(process.cwd(), '.funnelcast'));
}

export function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

export const paths = {
  warehouse: (pipeline: string) => join(funnelcastHome(), 'warehouse', `${pipeline}.duckdb`),
  runDir: (pipeline: string, runId: string) => join(funnelcastHome(), 'runs', pipeline, runId),
  /** FUNNELCAST_REGISTRY moves the model registry elsewhere (a shared disk); default under the state folder. */
  registry: (pipeline: string) =>
    join(resolve(process.env.FUNNELCAST_REGISTRY ?? join(funnelcastHome(), 'registry')), pipeline),
  temporalDb: () => join(funnelcastHome(), 'temporal', 'dev-server.sqlite'),
  /** FUNNELCAST_EXPORT_ROOT: where `export.destination` folders live (campaign lists for other tools). */
  exportRoot: () => resolve(process.env.FUNNELCAST_EXPORT_ROOT ?? join(funnelcastHome(), 'exports')),
};

/** A cutoff as a compact UTC stamp for ids and folder names: 2024-03-01T00:00:00Z → 20240301T000000Z. */
export function cutoffStamp(cutoffIso: string): string {
  return new Date(cutoffIso)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

/**
 * A run id is `<pipeline>-<cutoff stamp>-<content key>` (key: infra/run-key.ts): the same inputs give the same id,
 * so retries and repeated commands reuse the run; any changed input (definition, data, cutoff) gives a new one.
 * It is also the run's Temporal workflow id and the name of its folder.
 */
export function runIdFor(pipeline: string, cutoffIso: string, key: string): string {
  return `${pipeline}-${cutoffStamp(cutoffIso)}-${key}`;
}

/** The cutoff stamp part of a run id (`<pipeline>-<stamp>-<key>`, or `<pipeline>-<stamp>` from before content keys). */
export function runCutoffStamp(runId: string): string {
  return /(\d{8}T\d{6}Z)(-[0-9a-f]+)?$/.exec(runId)?.[1] ?? '';
}
