/**
 * The pipeline definition: one JSON file that says where the events are, how to label them, which model to
 * train and which campaigns to export. Validated with zod so that a mistake is reported with its path
 * (`sources.events.columns.ts: Required`) before any work starts.
 */
import { z } from 'zod';
import { safeName } from './common';
import { sources } from './sources';
import { churnSpec, featureSpec, labelSpec } from './features';
import { cvSpec, driftSpec, modelSpec, registrySpec } from './model';
import {
  campaignSpec,
  exportSpec,
  segmentSpec,
  unknownRfmNames,
  RFM_SEGMENT_NAMES,
  type CampaignFilter,
} from './segments';
import { eventReferences, unknownEventMessage } from './references';
import { CLV_FIELDS, clvSpec } from './clv';

const pipelineObject = z
  .object({
    name: safeName,
    description: z.string().max(2000).optional(),
    sources,
    label: labelSpec,
    /** Optional churn-risk model (see churnSpec); campaigns may then filter on churn_risk. */
    churn: churnSpec.optional(),
    /** Optional customer lifetime value (BG/NBD + Gamma-Gamma); campaigns may then filter and rank on clv. */
    clv: clvSpec.optional(),
    features: featureSpec.default({}),
    /** Cutoff used when none is given on the command line (ISO date); otherwise the last event time minus the horizon. */
    defaultCutoff: z.string().datetime({ offset: true }).or(z.string().date()).optional(),
    /**
     * Which clock a scheduled run's cutoff follows: `wall` (its scheduled time) or `data` (the last complete day of
     * the loaded data, never later than the scheduled time), for data that stopped in the past, like the sample.
     */
    clock: z.enum(['wall', 'data']).default('wall'),
    model: modelSpec.default({}),
    cv: cvSpec.default({}),
    registry: registrySpec.default({}),
    drift: driftSpec.default({}),
    segments: segmentSpec.default({}),
    campaigns: z
      .array(campaignSpec)
      .max(50)
      .default([])
      .refine((cs) => new Set(cs.map((c) => c.name)).size === cs.length, 'campaign names must be unique'),
    export: exportSpec.default({}),
  })
  .strict();

type Definition = z.infer<typeof pipelineObject>;

// Rules across fields, each a function of its own so a rule reads on one screen.
export const pipelineDefinition = pipelineObject.superRefine((d, ctx) => {
  modelRules(d, ctx);
  piiRules(d, ctx);
  uploadRules(d, ctx);
  eventRules(d, ctx);
  campaignNameRules(d, ctx);
  campaignModelRules(d, ctx);
});

/** Settings that need cross-validation folds. */
function modelRules(d: Definition, ctx: z.RefinementCtx): void {
  // model.search scores its trials on the run's CV folds: without folds it would be silently skipped.
  if (d.model.search && d.cv.strategy === 'none')
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ['model', 'search'],
      message: 'model.search tries settings on the CV folds: set cv.strategy to "kfold" or "time"',
    });
  if (d.model.engine === 'auto' && d.cv.strategy === 'none')
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ['cv', 'strategy'],
      message: 'model.engine "auto" chooses by cross-validation: set cv.strategy to "kfold" or "time"',
    });
}

/** PII columns: never features, exported only when allowed. */
function piiRules(d: Definition, ctx: z.RefinementCtx): void {
  // PII stays out of features (one-hot column names would carry its values into reasons) and out of exports
  // unless it is a declared PII column the pipeline explicitly allows.
  const cust = d.sources.customers?.columns;
  const pii = new Set(cust?.pii ?? []);
  cust?.attributes.forEach((a, i) => {
    if (pii.has(a))
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['sources', 'customers', 'columns', 'attributes', i],
        message: `"${a}" is a pii column: it cannot also be a feature attribute`,
      });
  });
  d.export.allowPii.forEach((p, i) => {
    if (!pii.has(p))
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['export', 'allowPii', i],
        message: `"${p}" is not one of sources.customers.columns.pii (${[...pii].join(', ') || 'none declared'})`,
      });
  });
}

/** Ad-platform upload formats and the address columns they read. */
function uploadRules(d: Definition, ctx: z.RefinementCtx): void {
  const pii = new Set(d.sources.customers?.columns.pii ?? []);
  // Upload formats read declared pii columns; plain-address formats only those the pipeline lets out.
  const up = d.export.uploads;
  if (up) {
    for (const key of ['email', 'phone'] as const) {
      const col = up[key];
      if (col && !pii.has(col))
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['export', 'uploads', key],
          message: `"${col}" is not one of sources.customers.columns.pii (${[...pii].join(', ') || 'none declared'})`,
        });
    }
    if (!up.email && !up.phone)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['export', 'uploads'],
        message: 'name the customers column with the e-mail address (email) and/or the phone number (phone)',
      });
    up.formats.forEach((f, i) => {
      if ((f === 'mailchimp' || f === 'hubspot') && !(up.email && d.export.allowPii.includes(up.email)))
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['export', 'uploads', 'formats', i],
          message: `${f} imports plain e-mail addresses: add the e-mail column to export.allowPii to allow it`,
        });
    });
  }
}

/** Every event the definition names is a declared event type. */
function eventRules(d: Definition, ctx: z.RefinementCtx): void {
  // With declared event types, every event the definition names must be one of them: a label event outside
  // them can never occur (its rows are quarantined), and a misspelt funnel stage would add all-zero features.
  const declared = d.sources.events.eventTypes;
  if (declared)
    for (const ref of eventReferences(d))
      if (!declared.includes(ref.event))
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ref.path.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p)),
          message: unknownEventMessage(ref, declared, 'sources.events.eventTypes declares'),
        });
}

/** Campaign filters and names: RFM segment names, reserved list names, the decile order. */
function campaignNameRules(d: Definition, ctx: z.RefinementCtx): void {
  // A misspelt RFM segment name would select nobody, silently.
  d.campaigns.forEach((c, i) => {
    for (const name of unknownRfmNames(c.filter))
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['campaigns', i, 'filter'],
        message: `campaign "${c.name}": "${name}" is not an RFM segment (${RFM_SEGMENT_NAMES.join(', ')})`,
      });
  });
  // Segment lists are named rfm_<segment> and cluster_<k>: a campaign may not take one of those names.
  if (d.export.segmentLists.length)
    d.campaigns.forEach((c, i) => {
      if (/^(rfm|cluster)_/.test(c.name))
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['campaigns', i, 'name'],
          message: `campaign names starting with rfm_ or cluster_ are taken by export.segmentLists: rename "${c.name}"`,
        });
    });
  // Deciles count from the top (1 = top 10 %) since December 2026; a definition filtering on one must say it
  // means that order, so one written for the old order (10 = top) fails here rather than selecting the bottom.
  const usesDecile = (f: CampaignFilter) => someField(f, (field) => field.endsWith('_decile'));
  if (d.segments.deciles !== '1-is-top')
    d.campaigns.forEach((c, i) => {
      if (usesDecile(c.filter))
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['campaigns', i, 'filter'],
          message:
            `campaign "${c.name}" filters on a decile, and deciles now count from the top (1 = the top 10 %; ` +
            `before December 2026 10 was the top, so "gte 9" meant the top two and now means the bottom two). ` +
            `Check the filter (the top two are "lte 2") and confirm with "segments": { "deciles": "1-is-top" }`,
        });
    });
}

/** Campaigns that filter or rank on a model the pipeline does not define. */
function campaignModelRules(d: Definition, ctx: z.RefinementCtx): void {
  // A campaign cannot filter on churn risk the pipeline does not model.
  const usesChurn = (f: CampaignFilter) => someField(f, (field) => field.startsWith('churn_risk'));
  const usesClv = (f: CampaignFilter) => someField(f, (field) => (CLV_FIELDS as readonly string[]).includes(field));
  if (!d.clv)
    d.campaigns.forEach((c, i) => {
      if (c.rankBy === 'clv' || usesClv(c.filter))
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['campaigns', i, c.rankBy === 'clv' ? 'rankBy' : 'filter'],
          message: `campaign "${c.name}" uses customer lifetime value, but the pipeline defines no "clv" (e.g. "clv": { "horizon": "52w" })`,
        });
    });
  if (!d.churn)
    d.campaigns.forEach((c, i) => {
      if (c.rankBy === 'churn_risk')
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['campaigns', i, 'rankBy'],
          message: `campaign "${c.name}" ranks by churn risk, but the pipeline defines no "churn" model`,
        });
      if (usesChurn(c.filter))
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['campaigns', i, 'filter'],
          message: `campaign "${c.name}" filters on churn risk, but the pipeline defines no "churn" model`,
        });
    });
}

/** Whether any leaf of a campaign filter names a field for which `test` holds (all / any / not walked). */
function someField(f: CampaignFilter, test: (field: string) => boolean): boolean {
  if ('all' in f) return f.all.some((g) => someField(g, test));
  if ('any' in f) return f.any.some((g) => someField(g, test));
  if ('not' in f) return someField(f.not, test);
  return 'field' in f && test(f.field);
}

/** The definition as written in the file (defaults optional). */
export type PipelineInput = z.input<typeof pipelineDefinition>;
/** The definition after validation and defaults. */
export type PipelineDefinition = z.infer<typeof pipelineDefinition>;

export * from './common';
export * from './sources';
export * from './features';
export * from './model';
export * from './segments';
export * from './references';
export * from './clv';
