/**
 * The feature columns of the feature table, as SQL expressions: aggregates over a user's events before the cutoff
 * (one GROUP BY) and per-user values joined after it (RFM, sessions, funnel stage), each with the sentence that
 * documents it. The order of the calls is the order of the columns: the model files depend on it.
 */
import type { PipelineDefinition } from '../pipelines/schema';
import { durationMs } from '../pipelines/schema';
import { quoteIdent } from './db';
import { columnSafe } from './names';
import { DAY_MS } from './cutoffs';

export class FeatureColumns {
  /** `a`: the aggregates over events_before. */
  readonly agg: string[] = [];
  /**
   * `d`: the DISTINCT counts, in a GROUP BY of their own joined to `a`. In one GROUP BY with ~25 other aggregates
   * DuckDB's distinct handling made that aggregate 3× slower (10 M events: 38.6 CPU-s; apart: 12.2 + 7.1 + a 3.9
   * join).
   */
  readonly distinct: string[] = [];
  /** The columns of `u`: aggregates by name and per-user expressions over a, r (RFM), s (sessions), fu (funnel). */
  readonly out: string[] = [];
  readonly docs: Record<string, string> = {};

  add(name: string, sql: string, doc: string) {
    this.agg.push(`CAST(${sql} AS DOUBLE) AS ${quoteIdent(name)}`);
    this.out.push(`a.${quoteIdent(name)}`);
    this.docs[name] = doc;
  }

  addDistinct(name: string, sql: string, doc: string) {
    this.distinct.push(`CAST(${sql} AS DOUBLE) AS ${quoteIdent(name)}`);
    this.out.push(`d.${quoteIdent(name)}`);
    this.docs[name] = doc;
  }

  addPerUser(name: string, sql: string, doc: string) {
    this.out.push(`CAST(${sql} AS DOUBLE) AS ${quoteIdent(name)}`);
    this.docs[name] = doc;
  }
}

const days = (a: string, b: string) => `((epoch_ms(${a}) - epoch_ms(${b})) / ${DAY_MS}.0)`;
const tenure = days('CAST($t AS TIMESTAMP)', 'min(ts)');

/** RFM (as lifetimes computes it), recency, tenure, volume, sessions and active days. */
export function baseColumns(c: FeatureColumns, def: PipelineDefinition): void {
  const unitDays = def.features.rfmUnit === 'weeks' ? 7 : 1;
  const purchase = def.label.event;
  c.addPerUser(
    'rfm_frequency',
    `coalesce(r.purchase_days - 1, 0)`,
    `repeat purchase periods (days with a ${purchase}, minus the first), as in lifetimes`,
  );
  c.addPerUser(
    'rfm_recency',
    `coalesce(r.recency_days / ${unitDays}, 0)`,
    `${def.features.rfmUnit} between the first and the last ${purchase} day (0 with fewer than two)`,
  );
  c.addPerUser(
    'rfm_t',
    `coalesce(r.t_days / ${unitDays}, a.tenure_days / ${unitDays})`,
    `${def.features.rfmUnit} from the first ${purchase} day to the last day before the cutoff (age); since the first event when no ${purchase}`,
  );
  c.addPerUser(
    'rfm_monetary',
    `coalesce(r.repeat_value, 0)`,
    `mean value of the repeat ${purchase} days (0 without repeats), as lifetimes' monetary_value`,
  );
  c.add('days_since_last_event', days('CAST($t AS TIMESTAMP)', 'max(ts)'), 'days from the last event to the cutoff');
  c.add('tenure_days', tenure, 'days from the first event to the cutoff');
  c.add('n_events_total', 'count(*)', 'events before the cutoff');
  c.add('revenue_total', 'coalesce(sum(revenue), 0)', 'revenue before the cutoff (returns count negative)');
  c.addDistinct('distinct_items', 'count(DISTINCT item_id)', 'distinct items touched');
  c.addPerUser(
    'n_sessions',
    'coalesce(s.n_sessions, 0)',
    `sessions (source ids, else split after ${def.features.sessionGap} of inactivity)`,
  );
  c.addPerUser('events_per_session', 'a.n_events_total / greatest(coalesce(s.n_sessions, 1), 1)', 'events per session');
  c.addDistinct('active_days', 'count(DISTINCT CAST(ts AS DATE))', 'distinct days with an event');
}

/** Per event type: its count, the days since the last one, and its count in each window. `eParam` binds its name. */
export function eventTypeColumns(
  c: FeatureColumns,
  def: PipelineDefinition,
  eventTypes: string[],
  eParam: (e: string) => string,
): void {
  for (const e of eventTypes) {
    const col = columnSafe(e);
    c.add(`n_${col}_total`, `count(*) FILTER (WHERE event = ${eParam(e)})`, `"${e}" events before the cutoff`);
    c.add(
      `days_since_last_${col}`,
      `coalesce(${days('CAST($t AS TIMESTAMP)', `max(ts) FILTER (WHERE event = ${eParam(e)})`)}, ${tenure} + 1)`,
      `days since the last "${e}" (tenure + 1 when never)`,
    );
    for (const w of def.features.windows) {
      c.add(
        `n_${col}_${w}`,
        `count(*) FILTER (WHERE event = ${eParam(e)} AND ts >= CAST($t AS TIMESTAMP) - to_milliseconds(${durationMs(w)}))`,
        `"${e}" events in the ${w} before the cutoff`,
      );
    }
  }
}

/** The furthest funnel stage (from the funnel_users table) and the ratio of each stage to the one before. */
export function funnelColumns(c: FeatureColumns, def: PipelineDefinition, eParam: (e: string) => string): void {
  const funnel = def.features.funnel;
  c.addPerUser(
    'funnel_stage',
    'coalesce(fu.stage, 0)',
    `furthest funnel stage reached in order (1-based index in ${funnel.join(' → ')}, 0 = none; each stage after the previous one${def.features.funnelWindow ? ` within ${def.features.funnelWindow}` : ''})`,
  );
  for (let i = 1; i < funnel.length; i++) {
    const a = columnSafe(funnel[i - 1]);
    const b = columnSafe(funnel[i]);
    c.add(
      `ratio_${b}_per_${a}`,
      `count(*) FILTER (WHERE event = ${eParam(funnel[i])}) / greatest(count(*) FILTER (WHERE event = ${eParam(funnel[i - 1])}), 1)`,
      `"${funnel[i]}" events per "${funnel[i - 1]}" event`,
    );
  }
}

/** When the user is active: the share of events per part of the day (UTC) and on weekends. */
export function timeOfDayColumns(c: FeatureColumns): void {
  const hourBuckets: [string, number, number][] = [
    ['night', 0, 6],
    ['morning', 6, 12],
    ['afternoon', 12, 18],
    ['evening', 18, 24],
  ];
  for (const [name, a, b] of hourBuckets)
    c.add(
      `share_${name}`,
      `avg(CASE WHEN hour(ts) >= ${a} AND hour(ts) < ${b} THEN 1 ELSE 0 END)`,
      `share of events between ${a}:00 and ${b}:00 UTC`,
    );
  c.add(
    'share_weekend',
    `avg(CASE WHEN dayofweek(ts) IN (0, 6) THEN 1 ELSE 0 END)`,
    'share of events on Saturday or Sunday',
  );
}
