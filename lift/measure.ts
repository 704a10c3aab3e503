/**
 * A campaign's measured effect from its two arms: conversion rates and revenue per user, absolute and relative
 * lift with 95 % intervals (lift/stats.ts), incremental conversions and revenue over the delivered users, cost,
 * ROI = (incremental revenue − cost) / cost and CAC = cost / incremental conversions. A figure whose lift
 * interval contains 0 is "not measurable", with the reason, rather than a number that reads as a result.
 */
import type { CampaignEconomics } from '../pipelines/schema';
import { containsZero, meanDifference, rateDifference, relativeLift, scaleInterval } from './stats';
import type { Interval, MeanStats } from './stats';

export const REVENUE_METHOD =
  "Welch's unequal-variance t interval for the difference in mean revenue per user (95 %, Welch–Satterthwaite degrees of freedom)";
export const RATE_METHOD =
  'two-proportion interval for the difference in conversion rates (95 %, unpooled standard error)';

export interface ArmOutcome {
  users: number;
  conversions: number;
  /** Revenue per user in the window (label-event revenue, or conversions × economics.value). */
  revenue: MeanStats;
}

/** A figure, or why there is none. */
export type Figure = { value: number; interval?: Interval } | { value: null; reason: string };

export interface LiftResult {
  treatment: { users: number; conversions: number; rate: number; revenuePerUser: number };
  control: { users: number; conversions: number; rate: number; revenuePerUser: number };
  absoluteLift: Interval;
  relativeLift: Interval | null;
  revenuePerUserLift: Interval;
  /** Over the delivered (treatment) users: lift × users. */
  incrementalConversions: Interval;
  incrementalRevenue: Interval;
  cost: number | null;
  currency: string | null;
  roi: Figure;
  cac: Figure;
  methods: { rate: string; revenue: string };
}

function arm(a: ArmOutcome) {
  return {
    users: a.users,
    conversions: a.conversions,
    rate: a.users ? a.conversions / a.users : 0,
    revenuePerUser: a.users ? a.revenue.sum / a.users : 0,
  };
}

/** Why a lift interval makes a derived figure unmeasurable, in words. */
const straddles = (what: string, i: Interval) =>
  `not measurable: the 95 % interval of the ${what} [${i.low.toPrecision(3)}, ${i.high.toPrecision(3)}] contains 0`;

/** The lift of one campaign; both arms must have users (callers say "no control group" otherwise). */
export function measureLift(t: ArmOutcome, c: ArmOutcome, economics?: CampaignEconomics): LiftResult {
  const absolute = rateDifference(t.conversions, t.users, c.conversions, c.users);
  const revenue = meanDifference(t.revenue, c.revenue);
  const incConv = scaleInterval(absolute, t.users);
  const incRev = scaleInterval(revenue, t.users);
  const cost = economics ? economics.fixedCost + economics.costPerContact * t.users : null;
  let roi: Figure;
  let cac: Figure;
  if (cost === null) {
    roi = cac = { value: null, reason: 'no economics (costs and values) in the campaign definition' };
  } else if (cost === 0) {
    roi = cac = { value: null, reason: 'the campaign cost nothing (economics.costPerContact and fixedCost are 0)' };
  } else {
    const roiOf = (r: number) => (r - cost) / cost;
    roi = containsZero(revenue)
      ? { value: null, reason: straddles('revenue lift per user', revenue) }
      : {
          value: roiOf(incRev.estimate),
          interval: { estimate: roiOf(incRev.estimate), low: roiOf(incRev.low), high: roiOf(incRev.high) },
        };
    // CAC needs a positive number of incremental conversions; a campaign that lost conversions has none to price.
    cac = containsZero(absolute)
      ? { value: null, reason: straddles('conversion lift', absolute) }
      : incConv.estimate < 0
        ? {
            value: null,
            reason: 'not measurable: the campaign lowered conversion (fewer conversions than the control group)',
          }
        : {
            value: cost / incConv.estimate,
            interval: { estimate: cost / incConv.estimate, low: cost / incConv.high, high: cost / incConv.low },
          };
  }
  return {
    treatment: arm(t),
    control: arm(c),
    absoluteLift: absolute,
    relativeLift: relativeLift(t.conversions, t.users, c.conversions, c.users),
    revenuePerUserLift: revenue,
    incrementalConversions: incConv,
    incrementalRevenue: incRev,
    cost,
    currency: economics?.currency ?? null,
    roi,
    cac,
    methods: { rate: RATE_METHOD, revenue: REVENUE_METHOD },
  };
}
