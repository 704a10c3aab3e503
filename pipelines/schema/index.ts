/**
 * The pipeline definition: one JSON file that says where the events are, how to label them, which model to
 * train and which campaigns to export. Validated with zod so that a mistake is reported with its path
 * (`sources.events.columns.ts: Required`) before any work starts.
 */
import { z } from 'zod';
import { safeName } from './common';
import { sources } from './sources';
import { featureSpec, labelSpec } from './features';
import { cvSpec, modelSpec, registrySpec } from './model';
import { campaignSpec, exportSpec, segmentSpec } from './segments';

export const pipelineDefinition = z
  .object({
    name: safeName,
    description: z.string().max(2000).optional(),
    sources,
    label: labelSpec,
    features: featureSpec.default({}),
    /** Cutoff used when none is given on the command line (ISO date); otherwise the last event time minus the horizon. */
    defaultCutoff: z.string().datetime({ offset: true }).or(z.string().date()).optional(),
    model: modelSpec.default({}),
    cv: cvSpec.default({}),
    registry: registrySpec.default({}),
    segments: segmentSpec.default({}),
    campaigns: z
      .array(campaignSpec)
      .max(50)
      .default([])
      .refine((cs) => new Set(cs.map((c) => c.name)).size === cs.length, 'campaign names must be unique'),
    export: exportSpec.default({}),
  })
  .strict();

/** The definition as written in the file (defaults optional). */
export type PipelineInput = z.input<typeof pipelineDefinition>;
/** The definition after validation and defaults. */
export type PipelineDefinition = z.infer<typeof pipelineDefinition>;

export * from './common';
export * from './sources';
export * from './features';
export * from './model';
export * from './segments';
