/**
 * The features of the feature table, each declared once as an expression (warehouse/feature-expr.ts) over a user's
 * events before the cutoff and the per-user RFM, session and funnel values, with the sentence that documents it.
 * The batch path renders them to SQL: aggregates over events_before (one GROUP BY) and per-user values joined after
 * it; online scoring (serve/online.ts) evaluates the same expressions in memory. The order of the calls is the order
 * of the columns: the model files depend on it.
 */
import type { PipelineDefinition } from '../pipelines/schema';
import { durationMs } from '../pipelines/schema';
import { quoteIdent } from './db';
import { columnSafe } from './names';
import {
  coalesce,
  count,
  countDistinct,
  daysToCutoff,
  div,
  greatest,
  hourIn,
  isEvent,
  maxTs,
  minTs,
  minus,
  num,
  plus,
  ref,
  share,
  sumRevenue,
  toSql,
  weekend,
  within,
  type Expr,
  type UserRef,
} from './feature-expr';

/**
 * One feature: where it is computed (`a`: the aggregates, `d`: the DISTINCT counts, `u`: per user, `c`: a customer
 * attribute, warehouse/attributes.ts) and how.
 */
export interface FeatureDef {
  name: string;
  part: 'a' | 'd' | 'u' | 'c';
  expr: Expr;
}

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
  /** The declarations, in column order (what online scoring evaluates). */
  readonly defs: FeatureDef[] = [];

  /** `eParam` names the bound parameter of an event type in the SQL; `refSql` where the query holds a per-user value. */
  constructor(
    private readonly eParam: (e: string) => string,
    private readonly refSql?: (r: UserRef) => string,
  ) {}

  add(name: string, expr: Expr, doc: string) {
    this.agg.push(`CAST(${toSql(expr, this.eParam, this.refSql)} AS DOUBLE) AS ${quoteIdent(name)}`);
    this.out.push(`a.${quoteIdent(name)}`);
    this.declare(name, 'a', expr, doc);
  }

  addDistinct(name: string, expr: Expr, doc: string) {
    this.distinct.push(`CAST(${toSql(expr, this.eParam, this.refSql)} AS DOUBLE) AS ${quoteIdent(name)}`);
    this.out.push(`d.${quoteIdent(name)}`);
    this.declare(name, 'd', expr, doc);
  }

  addPerUser(name: string, expr: Expr, doc: string) {
    this.out.push(`CAST(${toSql(expr, this.eParam, this.refSql)} AS DOUBLE) AS ${quoteIdent(name)}`);
    this.declare(name, 'u', expr, doc);
  }

  private declare(name: string, part: FeatureDef['part'], expr: Expr, doc: string) {
    this.docs[name] = doc;
    this.defs.push({ name, part, expr });
  }
}

const tenure = daysToCutoff(minTs());

/**
 * Every feature of the pipeline at these event types, in column order; the event type of index i is bound as $e<i>
 * in the SQL.
 */
export function declareFeatures(
  def: PipelineDefinition,
  eventTypes: string[],
  refSql?: (r: UserRef) => string,
): FeatureColumns {
  const cols = new FeatureColumns((e) => `$e${eventTypes.indexOf(e)}`, refSql);
  baseColumns(cols, def);
  eventTypeColumns(cols, def, eventTypes);
  if (def.features.funnel.length) funnelColumns(cols, def);
  timeOfDayColumns(cols);
  return cols;
}

/** RFM (as lifetimes computes it), recency, tenure, volume, sessions and active days. */
export function baseColumns(c: FeatureColumns, def: PipelineDefinition): void {
  const unitDays = def.features.rfmUnit === 'weeks' ? 7 : 1;
  const purchase = def.label.event;
  c.addPerUser(
    'rfm_frequency',
    coalesce(minus(ref('r.purchase_days'), num(1)), num(0)),
    `repeat purchase periods (days with a ${purchase}, minus the first), as in lifetimes`,
  );
  c.addPerUser(
    'rfm_recency',
    coalesce(div(ref('r.recency_days'), num(unitDays)), num(0)),
    `${def.features.rfmUnit} between the first and the last ${purchase} day (0 with fewer than two)`,
  );
  c.addPerUser(
    'rfm_t',
    coalesce(div(ref('r.t_days'), num(unitDays)), div(ref('a.tenure_days'), num(unitDays))),
    `${def.features.rfmUnit} from the first ${purchase} day to the last day before the cutoff (age); since the first event when no ${purchase}`,
  );
  c.addPerUser(
    'rfm_monetary',
    coalesce(ref('r.repeat_value'), num(0)),
    `mean value of the repeat ${purchase} days (0 without repeats), as lifetimes' monetary_value`,
  );
  c.add('days_since_last_event', daysToCutoff(maxTs()), 'days from the last event to the cutoff');
  c.add('tenure_days', tenure, 'days from the first event to the cutoff');
  c.add('n_events_total', count(), 'events before the cutoff');
  c.add('revenue_total', coalesce(sumRevenue, num(0)), 'revenue before the cutoff (returns count negative)');
  c.addDistinct('distinct_items', countDistinct('item'), 'distinct items touched');
  c.addPerUser(
    'n_sessions',
    coalesce(ref('s.n_sessions'), num(0)),
    `sessions (source ids, else split after ${def.features.sessionGap} of inactivity)`,
  );
  c.addPerUser(
    'events_per_session',
    div(ref('a.n_events_total'), greatest(coalesce(ref('s.n_sessions'), num(1)), num(1))),
    'events per session',
  );
  c.addDistinct('active_days', countDistinct('day'), 'distinct days with an event');
}

/** Per event type: its count, the days since the last one, and its count in each window. */
export function eventTypeColumns(c: FeatureColumns, def: PipelineDefinition, eventTypes: string[]): void {
  for (const e of eventTypes) {
    const col = columnSafe(e);
    c.add(`n_${col}_total`, count(isEvent(e)), `"${e}" events before the cutoff`);
    c.add(
      `days_since_last_${col}`,
      coalesce(daysToCutoff(maxTs(isEvent(e))), plus(tenure, num(1))),
      `days since the last "${e}" (tenure + 1 when never)`,
    );
    for (const w of def.features.windows) {
      c.add(`n_${col}_${w}`, count(isEvent(e), within(durationMs(w))), `"${e}" events in the ${w} before the cutoff`);
    }
  }
}

/** The furthest funnel stage (from the funnel_users table) and the ratio of each stage to the one before. */
export function funnelColumns(c: FeatureColumns, def: PipelineDefinition): void {
  const funnel = def.features.funnel;
  c.addPerUser(
    'funnel_stage',
    coalesce(ref('fu.stage'), num(0)),
    `furthest funnel stage reached in order (1-based index in ${funnel.join(' → ')}, 0 = none; each stage after the previous one${def.features.funnelWindow ? ` within ${def.features.funnelWindow}` : ''})`,
  );
  for (let i = 1; i < funnel.length; i++) {
    const a = columnSafe(funnel[i - 1]);
    const b = columnSafe(funnel[i]);
    c.add(
      `ratio_${b}_per_${a}`,
      div(count(isEvent(funnel[i])), greatest(count(isEvent(funnel[i - 1])), num(1))),
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
    c.add(`share_${name}`, share(hourIn(a, b)), `share of events between ${a}:00 and ${b}:00 UTC`);
  c.add('share_weekend', share(weekend), 'share of events on Saturday or Sunday');
}
