import { z } from 'zod';
import { duration } from './common';

export const labelSpec = z
  .object({
    /** The event that counts as a conversion ("makes a purchase within the horizon"). */
    event: z.string().min(1).max(64),
    /** Label window after the cutoff: [cutoff, cutoff + horizon). */
    horizon: duration.default('30d'),
  })
  .strict();

export const featureSpec = z
  .object({
    /** Windows for per-event-type counts, e.g. ["1d","7d","30d","90d"]. */
    windows: z.array(duration).min(1).max(8).default(['7d', '30d', '90d']),
    /** The ordered funnel stages (event types), e.g. ["view","addtocart","transaction"]. */
    funnel: z.array(z.string().min(1).max(64)).max(10).default([]),
    /**
     * Conversion window of the funnel: a stage counts only when it follows the user's previous stage within this
     * time (unset: any time before the cutoff).
     */
    funnelWindow: duration.optional(),
    /** Inactivity gap that splits sessions when the source has no session ids. */
    sessionGap: duration.default('30m'),
    /** RFM durations in days or weeks (CDNOW's reference uses weeks). */
    rfmUnit: z.enum(['days', 'weeks']).default('days'),
    /** Only users with at least one event in this lookback before the cutoff are scored (all users if unset). */
    activeWithin: duration.optional(),
    /** Length of the per-user event sequence written for the LSTM. */
    sequenceLength: z.number().int().min(2).max(512).default(50),
  })
  .strict();

/**
 * Churn risk, a second model beside conversion propensity: a customer (did `customersOf`, default the label
 * event, within `within` before the cutoff) churns when they do no `activeEvent` (default: any event) in the
 * label horizon after the cutoff. Trained on customers only; other users get no churn risk.
 */
export const churnSpec = z
  .object({
    customersOf: z.string().min(1).max(64).optional(),
    within: duration.default('365d'),
    activeEvent: z.string().min(1).max(64).optional(),
  })
  .strict();

export type LabelSpec = z.infer<typeof labelSpec>;
export type ChurnSpec = z.infer<typeof churnSpec>;
export type FeatureSpec = z.infer<typeof featureSpec>;
