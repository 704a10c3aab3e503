import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { PipelineDefinition } from '../pipelines/schema';

/**
 * The content key of a run: a short sha256 of everything the run's results depend on, so that a changed input is
 * a new run (its own folder, models, report) and a repeated one is the same run (retries reuse finished work).
 *
 * - the definition, minus text that changes no result (descriptions), `defaultCutoff` and `clock` (the cutoff they
 *   resolve to is hashed instead): sources and their mapping, label, features, churn, model engine + hyper-parameters +
 *   seed, cv, registry gate, segments, campaigns, export;
 * - the cutoff;
 * - the warehouse contents the run reads: every file loaded into it (source, sha256, rows loaded), in load order,
 *   so appending rows to a source or loading a new file changes the key;
 * - the version of the code that computes results (`resultCodeHash`): after an upgrade or a fix (say, to calibration)
 *   a re-run is a new run, never the finished one made by the old code;
 * - whether it is a backtest (a backfill's run): a backtest never moves the champion, so it must not answer a live
 *   run of the same content (nor a live run a backfill); each is its own run.
 */
export interface LoadedFile {
  source: string;
  sha256: string;
  loaded: number;
}

export const RUN_KEY_LENGTH = 10;

export function runKey(input: {
  definition: PipelineDefinition;
  cutoff: string;
  files: LoadedFile[];
  code: string;
  backtest?: boolean;
}): string {
  const content = canonicalJson({
    // Only when set, so live runs keep the keys they had before backtests were told apart.
    ...(input.backtest ? { backtest: true } : {}),
    code: input.code,
    definition: relevantDefinition(input.definition),
    cutoff: new Date(input.cutoff).toISOString(),
    files: input.files.map((f) => [f.source, f.sha256, f.loaded]),
  });
  return createHash('sha256').update(content).digest('hex').slice(0, RUN_KEY_LENGTH);
}

/** The parts of a definition that can change a run's results (cosmetic text dropped). */
export function relevantDefinition(def: PipelineDefinition): Record<string, unknown> {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { description, defaultCutoff, clock, ...rest } = def;
  return {
    ...rest,
    campaigns: def.campaigns.map(({ description: _d, ...c }) => c),
  };
}

/** JSON with object keys sorted at every level, so reordering keys in a definition file keeps the key. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/** The folders whose code computes a run's results (the CLI, infra and tests change none). */
const RESULT_CODE = [
  'activities',
  'lift',
  'ml',
  'pipelines',
  'registry',
  'report',
  'segments',
  'warehouse',
  'workflows',
];
let cachedResultCodeHash: string | null = null;

/** The running build's code version (computed once per process): its compiled files beside this one. */
export function resultCodeHash(): string {
  cachedResultCodeHash ??= resultCodeHashOf(join(__dirname, '..'));
  return cachedResultCodeHash;
}

/** sha256 of the code files (names and bytes) in RESULT_CODE under `root`. */
export function resultCodeHashOf(root: string): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(js|ts)$/.test(name) && !name.endsWith('.d.ts'))
        hash.update(p.slice(root.length)).update(readFileSync(p));
    }
  };
  for (const folder of RESULT_CODE) if (existsSync(join(root, folder))) walk(join(root, folder));
  return hash.digest('hex');
}
