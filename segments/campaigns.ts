/**
 * Campaign filters → parameterised SQL. The filter is a typed tree (pipelines/schema/segments.ts); field names
 * come from a fixed whitelist mapped to known columns, values are always bound parameters, so no user text ever
 * becomes SQL.
 */
import type { CampaignFilter } from '../pipelines/schema';
import { durationMs } from '../pipelines/schema';

/** Filter fields → columns of the `segments` relation (see segments/index.ts). */
export const FILTER_COLUMNS: Record<string, string> = {
  rfm_segment: 'rfm_segment',
  propensity: 'propensity',
  propensity_decile: 'propensity_decile',
  propensity_percentile: 'propensity_percentile',
  funnel_stage: 'funnel_stage',
  cluster: 'cluster',
  recency_days: 'recency_days',
  frequency: 'frequency',
  monetary: 'monetary',
  last_event_age_days: 'last_event_age_days',
  churn_risk: 'churn_risk',
  churn_risk_decile: 'churn_risk_decile',
  clv: 'clv',
  p_alive: 'p_alive',
  expected_purchases: 'expected_purchases',
};

const OPS: Record<string, string> = { eq: '=', neq: '<>', lt: '<', lte: '<=', gt: '>', gte: '>=' };

export interface CompiledFilter {
  sql: string;
  params: Record<string, string | number>;
}

/**
 * Compiles a filter to a WHERE clause. `{event, within, did}` becomes a membership test against the events
 * before the cutoff (`$cutoff` must be bound by the caller, `events` must be visible).
 */
export function compileFilter(filter: CampaignFilter, prefix = 'f'): CompiledFilter {
  const params: Record<string, string | number> = {};
  let n = 0;
  const bind = (v: string | number) => {
    const name = `${prefix}${n++}`;
    params[name] = v;
    return `$${name}`;
  };
  const walk = (f: CampaignFilter): string => {
    if ('all' in f) return `(${f.all.map(walk).join(' AND ')})`;
    if ('any' in f) return `(${f.any.map(walk).join(' OR ')})`;
    if ('not' in f) return `(NOT ${walk(f.not)})`;
    if ('event' in f) {
      const sub = `user_id IN (SELECT user_id FROM events WHERE event = ${bind(f.event)} AND ts < CAST($cutoff AS TIMESTAMP) AND ts >= CAST($cutoff AS TIMESTAMP) - to_milliseconds(${bind(durationMs(f.within))}))`;
      return f.did ? `(${sub})` : `(NOT ${sub})`;
    }
    const col = FILTER_COLUMNS[f.field];
    if (!col) throw new Error(`unknown filter field "${f.field}"`);
    if (f.op === 'in' || f.op === 'not_in') {
      const list = (f.value as (string | number)[]).map(bind).join(', ');
      return `(${col} ${f.op === 'in' ? 'IN' : 'NOT IN'} (${list}))`;
    }
    const op = OPS[f.op];
    if (!op) throw new Error(`unknown operator "${f.op}"`);
    return `(${col} ${op} ${bind(f.value as string | number)})`;
  };
  return { sql: walk(filter), params };
}
