/**
 * The exports manifest (exports/manifest.json): what the run's lists are, where each came from, their checksums,
 * control groups and backtests, and how `measure` prices each send. Readers: deliveries, `measure`, people.
 */
import { basename } from 'node:path';
import type { PipelineDefinition } from '../pipelines/schema';
import type { CampaignExport } from './export-list';
import { DECILE_CONVENTION } from './lists';

export function listsManifest(
  o: { definition: PipelineDefinition; runId: string; cutoff: Date; modelVersion: string },
  campaigns: CampaignExport[],
  saltSource: string,
  segments: { users: number; sha256: string },
) {
  const def = o.definition;
  return {
    runId: o.runId,
    pipeline: def.name,
    cutoff: o.cutoff.toISOString(),
    modelVersion: o.modelVersion,
    userIds: def.export.hashUserIds ? `sha256(salt || user_id), salt from ${saltSource}` : 'as in the source',
    segments: { file: 'segments.parquet', ...segments },
    conventions: { propensityDecile: DECILE_CONVENTION, churnRiskDecile: '1 = the 10 % of customers most at risk' },
    campaigns: campaigns.map((c) => ({
      name: c.name,
      kind: c.kind,
      description: c.meaning.description,
      action: c.action,
      rows: c.rows,
      expectedConversions: Number(c.expectedConversions.toFixed(4)),
      expectedConversionsMeaning: c.meaning.expectedConversions,
      realisedConversions: c.realisedConversions,
      // The held-out users: never delivered; `rows` above counts the delivered (treatment) users only.
      control: {
        share: c.control.share,
        salt: c.control.salt,
        rows: c.control.rows,
        realisedConversions: c.control.realisedConversions,
        file: c.control.share > 0 ? basename(c.control.file) : null,
        sha256: c.control.sha256,
        note: c.control.share > 0 ? 'held out, not delivered' : 'no control group: lift cannot be measured',
      },
      backtest: c.backtest,
      // How `measure` prices and times this send (lift/run.ts), fixed when the list was made.
      measurement: measurementTerms(def, c.name),
      files: { csv: `${c.name}.csv`, parquet: `${c.name}.parquet`, readme: `${c.name}.README.txt` },
      uploads: c.uploads.map((u) => ({
        format: u.format,
        file: basename(u.path),
        rows: u.rows,
        withoutIdentifier: u.withoutIdentifier,
        sha256: u.sha256,
      })),
      sha256: c.sha256,
    })),
  };
}

/** A campaign's measurement window and economics as the definition states them when its list is made. */
function measurementTerms(def: PipelineDefinition, name: string) {
  const spec = def.campaigns.find((c) => c.name === name);
  return spec ? { window: spec.measureWindow ?? def.label.horizon, economics: spec.economics ?? null } : undefined;
}
