import { z } from 'zod';
import { duration, safeName } from './common';

/**
 * A campaign filter is a small typed expression tree, never SQL text: each leaf names a known field and an
 * operator, and the segments layer compiles it to parameterised SQL (or evaluates it in memory).
 */
const field = z.enum([
  'rfm_segment',
  'propensity',
  'propensity_decile',
  'propensity_percentile',
  'funnel_stage',
  'cluster',
  'recency_days',
  'frequency',
  'monetary',
  'last_event_age_days',
  'churn_risk',
  'churn_risk_decile',
  // Only with `clv` in the definition (pipelines/schema/clv.ts).
  'clv',
  'p_alive',
  'expected_purchases',
]);

export type CampaignFilter =
  | { all: CampaignFilter[] }
  | { any: CampaignFilter[] }
  | { not: CampaignFilter }
  | { field: z.infer<typeof field>; op: 'eq' | 'neq' | 'lt' | 'lte' | 'gt' | 'gte'; value: string | number }
  | { field: z.infer<typeof field>; op: 'in' | 'not_in'; value: (string | number)[] }
  /** "did <event> within <window> before the cutoff" / "did not". */
  | { event: string; within: string; did: boolean };

export const campaignFilter: z.ZodType<CampaignFilter> = z.lazy(() =>
  z.union([
    z.object({ all: z.array(campaignFilter).min(1).max(32) }).strict(),
    z.object({ any: z.array(campaignFilter).min(1).max(32) }).strict(),
    z.object({ not: campaignFilter }).strict(),
    z
      .object({
        field,
        op: z.enum(['eq', 'neq', 'lt', 'lte', 'gt', 'gte']),
        value: z.union([z.string().max(128), z.number().finite()]),
      })
      .strict(),
    z
      .object({
        field,
        op: z.enum(['in', 'not_in']),
        value: z
          .array(z.union([z.string().max(128), z.number().finite()]))
          .min(1)
          .max(64),
      })
      .strict(),
    z.object({ event: z.string().min(1).max(64), within: duration, did: z.boolean() }).strict(),
  ]),
);

/** The RFM segment names (segments/rfm.ts maps the (R, FM) cells to them); campaign filters may name only these. */
export const RFM_SEGMENT_NAMES = [
  'Champions',
  'Loyal Customers',
  "Can't Lose Them",
  'At Risk',
  'Potential Loyalists',
  'New Customers',
  'Promising',
  'Need Attention',
  'About to Sleep',
  'Hibernating',
  'Lost',
] as const;

/** The rfm_segment values a filter compares with that are not segment names ("Champion" for "Champions"). */
export function unknownRfmNames(f: CampaignFilter): string[] {
  if ('all' in f) return f.all.flatMap(unknownRfmNames);
  if ('any' in f) return f.any.flatMap(unknownRfmNames);
  if ('not' in f) return unknownRfmNames(f.not);
  if (!('field' in f) || f.field !== 'rfm_segment') return [];
  const values = Array.isArray(f.value) ? f.value : [f.value];
  return values.map(String).filter((v) => !(RFM_SEGMENT_NAMES as readonly string[]).includes(v));
}

/**
 * The campaign's control group (lift/assignment.ts): `share` of the selected users are held out, chosen by a
 * salted hash of (campaign, user) so re-runs agree; 0 means no control group (lift cannot then be measured).
 */
export const controlSpec = z
  .object({
    share: z
      .number({ message: 'control.share must be a number from 0 to 0.9 (0.1 = hold out 10 %)' })
      .min(0, 'control.share must be from 0 to 0.9 (0 = no control group)')
      .max(0.9, 'control.share must be from 0 to 0.9: a campaign must deliver to someone'),
    /** Change it to draw a new control group for the campaign (assignments are otherwise stable across runs). */
    salt: z.string().max(64).default(''),
  })
  .strict()
  .default({ share: 0.1, salt: '' });

const money = (what: string) =>
  z
    .number({ message: `${what} must be a number (in the campaign's currency)` })
    .finite(`${what} must be a finite number`)
    .min(0, `${what} must be a non-negative number`);

/** What a campaign costs and what a conversion is worth, for its measured ROI and CAC (lift/measure.ts). */
export const economicsSpec = z
  .object({
    /** ISO 4217 code: costs and values are in this currency. */
    currency: z
      .string({ message: 'economics.currency is required: an ISO 4217 code such as "EUR"' })
      .regex(/^[A-Z]{3}$/, 'economics.currency must be an ISO 4217 code such as "EUR" or "USD"'),
    costPerContact: money('economics.costPerContact'),
    /** A cost paid once per send, whatever the list's size. */
    fixedCost: money('economics.fixedCost').default(0),
    /** What one conversion is worth, or "label_revenue": the revenue of the label events in the window. */
    value: z.union([money('economics.value'), z.literal('label_revenue')]).default('label_revenue'),
  })
  .strict();

export const campaignSpec = z
  .object({
    name: safeName,
    description: z.string().max(500).optional(),
    filter: campaignFilter,
    /**
     * Order of the list (highest first), and what `cap` keeps the top of: propensity, churn risk, customer value, or
     * the uplift predicted from this campaign's measured sends (lift/pipeline-uplift.ts: needs one at least).
     */
    rankBy: z.enum(['propensity', 'churn_risk', 'clv', 'uplift']).default('propensity'),
    /** Keep only the top-N users by `rankBy`. */
    cap: z.number().int().min(1).max(10_000_000).optional(),
    action: z.string().max(200).default('review'),
    control: controlSpec,
    economics: economicsSpec.optional(),
    /** How long after the cutoff conversions count towards the campaign's measured lift (default: label.horizon). */
    measureWindow: duration.optional(),
  })
  .strict();

export const segmentSpec = z
  .object({
    /** k for behavioural clusters; chosen by silhouette over 2..8 when unset. */
    clusters: z.number().int().min(2).max(20).optional(),
    /**
     * How deciles count: "1-is-top" (1 = the top 10 %). Until December 2026 `propensity_decile` counted the other
     * way (10 = top), so a definition written then ("gte 9" for the top two) would now select the bottom ones
     * without a word: campaigns that filter on a decile must state the order they mean, and a definition that does
     * not is refused (pipelines/schema/index.ts) instead of being silently reinterpreted.
     */
    deciles: z.literal('1-is-top').optional(),
  })
  .strict();

export const exportSpec = z
  .object({
    /** Hash user ids with HMAC-SHA256 and the salt read from this environment variable. */
    hashUserIds: z.boolean().default(false),
    saltEnv: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]{0,63}$/)
      .default('FUNNELCAST_EXPORT_SALT'),
    /**
     * Also deliver each run's lists to `<export root>/<destination>/` (export root: FUNNELCAST_EXPORT_ROOT, default
     * `<home>/exports`): a relative folder, never absolute and never above the root.
     */
    destination: z
      .string()
      .max(200)
      .regex(
        /^[a-z0-9][a-z0-9_-]*(\/[a-z0-9][a-z0-9_-]*)*$/,
        'a relative folder inside the export root: lower-case letters, digits, "_" and "-", parts separated by "/" (no "..", no absolute path)',
      )
      .optional(),
    /**
     * Lists without writing a campaign: "rfm" exports one list per RFM segment (rfm_champions, rfm_at_risk, …),
     * "cluster" one per behavioural cluster (cluster_1, …), each with the usual action for that segment.
     */
    segmentLists: z
      .array(z.enum(['rfm', 'cluster']))
      .max(2)
      .default([]),
    /**
     * Each list also as the import file of these tools (segments/upload.ts), from the customers source's e-mail and
     * phone columns (both declared pii): Google Ads Customer Match and Meta get SHA-256 of the normalised values;
     * Mailchimp and HubSpot import plain addresses, so they need the e-mail column in allowPii.
     */
    uploads: z
      .object({
        formats: z
          .array(z.enum(['google_ads', 'meta', 'mailchimp', 'hubspot']))
          .min(1)
          .max(4),
        email: z.string().max(128).optional(),
        phone: z.string().max(128).optional(),
        /** Country calling code for phone numbers written without one ("44" for 020 7183 8750). */
        defaultCountryCode: z
          .string()
          .regex(/^[1-9][0-9]{0,2}$/)
          .optional(),
      })
      .strict()
      .optional(),
    /**
     * Also POST every list to this webhook in signed batches with idempotency keys (segments/webhook.ts); the HMAC
     * secret is read on the worker from the environment variable `secretEnv`.
     */
    webhook: z
      .object({
        url: z
          .string()
          .url()
          .max(2000)
          .refine((u) => /^https?:\/\//.test(u), 'an http(s) URL'),
        secretEnv: z
          .string()
          .regex(/^[A-Z][A-Z0-9_]{0,63}$/)
          .default('FUNNELCAST_WEBHOOK_SECRET'),
        batchSize: z.number().int().min(1).max(10_000).default(500),
        /** "full": the whole list every time; "changes": users added and removed since the last delivery. */
        mode: z.enum(['full', 'changes']).default('full'),
      })
      .strict()
      .optional(),
    /**
     * Also upload every list, its README and upload files, and the manifest (last) to an S3-compatible bucket at
     * `<prefix>/<pipeline>/<runId>/` (segments/bucket.ts); credentials from the AWS SDK's usual chain.
     */
    bucket: z
      .object({
        bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name'),
        prefix: z
          .string()
          .max(200)
          .regex(/^[A-Za-z0-9!_.*'()/-]*$/)
          .optional(),
        endpoint: z.string().url().optional(),
        region: z.string().max(64).default('us-east-1'),
        forcePathStyle: z.boolean().default(false),
      })
      .strict()
      .optional(),
    /** Customer attribute columns that may appear in exports; everything marked pii is dropped otherwise. */
    allowPii: z.array(z.string().max(128)).max(64).default([]),
  })
  .strict();

export type CampaignSpec = z.infer<typeof campaignSpec>;
export type CampaignEconomics = z.infer<typeof economicsSpec>;
export type SegmentSpec = z.infer<typeof segmentSpec>;
export type ExportSpec = z.infer<typeof exportSpec>;
