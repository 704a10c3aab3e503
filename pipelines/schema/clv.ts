import { z } from 'zod';
import { duration } from './common';

/**
 * Customer lifetime value (ml/clv): BG/NBD + Gamma-Gamma fitted on the RFM summary at each cutoff, in the
 * pipeline's `features.rfmUnit`. Customers are the users with at least one label event before the cutoff.
 * Campaigns may then filter and rank on `clv`, `p_alive` and `expected_purchases`.
 */
export const clvSpec = z
  .object({
    /** How far ahead the value is predicted, e.g. "39w" (CDNOW's holdout) or "52w". */
    horizon: duration,
    /** Yearly discount rate applied to each month's expected value (0 = undiscounted). */
    annualDiscountRate: z.number().min(0).max(1).default(0),
  })
  .strict();

export type ClvSpec = z.infer<typeof clvSpec>;

/** Segment fields that exist only when the pipeline defines `clv`. */
export const CLV_FIELDS = ['clv', 'p_alive', 'expected_purchases'] as const;
