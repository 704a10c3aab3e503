/**
 * The feature dictionary: every feature the features SQL (warehouse/features.ts, warehouse/attributes.ts) can
 * produce, and every reason the models give (forest and logistic name features; the LSTM names `seq_<event>` and
 * `seq_revenue`), as a phrase a marketer reads with the user's value in it: "added to cart 3 times in the last 7
 * days", "last purchase 45 days ago", "customer for 2.1 years". One template per feature is rendered two ways that
 * a unit test keeps identical: in TypeScript (report, tests) and as a DuckDB expression (the exported lists, where
 * the phrase is computed next to the data instead of pulling every row into Node).
 */
import type { PipelineDefinition } from '../pipelines/schema';
import { columnSafe } from '../warehouse/names';
import { quoteLiteral } from '../warehouse/db';

/** How a value is written: counts are whole numbers, days become days/months/years, shares percentages. */
export type ValueFormat = 'count' | 'days' | 'money' | 'percent' | 'decimal' | 'stage' | 'flag';

export interface Phrase {
  format: ValueFormat;
  /** `{v}` is the formatted value, `{s}` an "s" unless the count is one. For flags: the phrase when true. */
  text: string;
  /** For flags: the phrase when false. */
  otherwise?: string;
  /** Multiplies the value before formatting (RFM features in weeks are written in days). */
  scale?: number;
  /** For "days since the last X": the phrase when the user never did X (the SQL then holds tenure + 1). */
  never?: string;
}

interface EventWords {
  /** "added to cart 3 times" */
  did: string;
  /** "last add to cart 2 days ago" */
  noun: string;
}

/** Common event names (as columnSafe spells them); any other event is quoted as it is. */
const EVENTS: Record<string, EventWords> = {
  view: { did: 'viewed items', noun: 'view' },
  page_view: { did: 'viewed pages', noun: 'page view' },
  pageview: { did: 'viewed pages', noun: 'page view' },
  product_view: { did: 'viewed products', noun: 'product view' },
  addtocart: { did: 'added to cart', noun: 'add to cart' },
  add_to_cart: { did: 'added to cart', noun: 'add to cart' },
  cart: { did: 'added to cart', noun: 'add to cart' },
  removefromcart: { did: 'removed from cart', noun: 'removal from cart' },
  remove_from_cart: { did: 'removed from cart', noun: 'removal from cart' },
  checkout: { did: 'started checkout', noun: 'checkout' },
  begin_checkout: { did: 'started checkout', noun: 'checkout' },
  transaction: { did: 'purchased', noun: 'purchase' },
  purchase: { did: 'purchased', noun: 'purchase' },
  buy: { did: 'purchased', noun: 'purchase' },
  order: { did: 'ordered', noun: 'order' },
  return: { did: 'returned items', noun: 'return' },
  search: { did: 'searched', noun: 'search' },
  click: { did: 'clicked', noun: 'click' },
  login: { did: 'logged in', noun: 'login' },
  signup: { did: 'signed up', noun: 'sign-up' },
  sign_up: { did: 'signed up', noun: 'sign-up' },
  add_to_wishlist: { did: 'added to wishlist', noun: 'wishlist add' },
  wishlist: { did: 'added to wishlist', noun: 'wishlist add' },
};

export function eventWords(id: string): EventWords {
  return EVENTS[id] ?? { did: `did "${id.replace(/_/g, ' ')}"`, noun: `"${id.replace(/_/g, ' ')}"` };
}

const WINDOW_UNITS: Record<string, [string, string]> = {
  s: ['second', 'seconds'],
  m: ['minute', 'minutes'],
  h: ['hour', 'hours'],
  d: ['day', 'days'],
  w: ['week', 'weeks'],
};

/** "7d" → "the last 7 days", "1d" → "the last day". */
export function windowWords(w: string): string {
  const m = /^(\d+)([smhdw])$/.exec(w);
  if (!m) return `the last ${w}`;
  const [one, many] = WINDOW_UNITS[m[2]];
  return m[1] === '1' ? `the last ${one}` : `the last ${m[1]} ${many}`;
}

const HOURS: Record<string, string> = {
  night: 'at night (0–6 h UTC)',
  morning: 'in the morning (6–12 h UTC)',
  afternoon: 'in the afternoon (12–18 h UTC)',
  evening: 'in the evening (18–24 h UTC)',
  weekend: 'at weekends',
};

/** The phrase of one feature or reason name, or null when the name is none the features SQL produces. */
export function featurePhrase(name: string, def: PipelineDefinition): Phrase | null {
  const buy = eventWords(columnSafe(def.label.event));
  const rfmScale = def.features.rfmUnit === 'weeks' ? 7 : 1;
  const fixed: Record<string, Phrase> = {
    rfm_frequency: { format: 'count', text: `${buy.did} again on {v} more day{s}` },
    rfm_recency: { format: 'days', text: `{v} between first and last ${buy.noun}`, scale: rfmScale },
    rfm_t: { format: 'days', text: `first ${buy.noun} {v} before the cutoff`, scale: rfmScale },
    rfm_monetary: { format: 'money', text: `repeat ${buy.noun}s worth {v} on average` },
    days_since_last_event: { format: 'days', text: 'last active {v} ago' },
    tenure_days: { format: 'days', text: 'customer for {v}' },
    n_events_total: { format: 'count', text: '{v} interaction{s} in total' },
    revenue_total: { format: 'money', text: 'spent {v} in total' },
    distinct_items: { format: 'count', text: 'looked at {v} different item{s}' },
    n_sessions: { format: 'count', text: '{v} visit{s}' },
    events_per_session: { format: 'decimal', text: '{v} interactions per visit' },
    active_days: { format: 'count', text: 'active on {v} day{s}' },
    funnel_stage: { format: 'stage', text: 'got as far as "{v}" in the funnel' },
    seq_revenue: { format: 'money', text: 'recent spending ({v} in total)' },
  };
  if (fixed[name]) return fixed[name];
  const share = /^share_(night|morning|afternoon|evening|weekend)$/.exec(name);
  if (share) return { format: 'percent', text: `{v} of activity ${HOURS[share[1]]}` };
  const total = /^n_(.+)_total$/.exec(name);
  if (total) return { format: 'count', text: `${eventWords(total[1]).did} {v} time{s} in total` };
  const since = /^days_since_last_(.+)$/.exec(name);
  if (since) {
    const w = eventWords(since[1]);
    return { format: 'days', text: `last ${w.noun} {v} ago`, never: `never ${w.did}` };
  }
  for (const win of def.features.windows) {
    const m = new RegExp(`^n_(.+)_${win}$`).exec(name);
    if (m) return { format: 'count', text: `${eventWords(m[1]).did} {v} time{s} in ${windowWords(win)}` };
  }
  const ratio = /^ratio_(.+)_per_(.+)$/.exec(name);
  if (ratio) {
    const [b, a] = [eventWords(ratio[1]).noun, eventWords(ratio[2]).noun];
    return { format: 'decimal', text: `{v} ${b}s per ${a}` };
  }
  const seq = /^seq_(.+)$/.exec(name);
  if (seq) return { format: 'count', text: `recent ${eventWords(seq[1]).noun}s ({v} in total)` };
  return attributePhrase(name, def);
}

/** Customer attributes: numeric ones as "plan: 3", one-hot ones as "plan is pro" / "plan is not pro". */
function attributePhrase(name: string, def: PipelineDefinition): Phrase | null {
  if (!name.startsWith('attr_')) return null;
  for (const a of def.sources.customers?.columns.attributes ?? []) {
    const base = `attr_${columnSafe(a)}`;
    if (name === base) return { format: 'decimal', text: `${a}: {v}` };
    if (name.startsWith(`${base}_`)) {
      const v = name.slice(base.length + 1).replace(/_/g, ' ');
      return { format: 'flag', text: `${a} is ${v}`, otherwise: `${a} is not ${v}` };
    }
  }
  return null;
}

/** The feature a reason's value is read from: LSTM reasons name an event type, not a feature column. */
export function reasonValueColumn(name: string): string {
  if (name === 'seq_revenue') return 'revenue_total';
  const seq = /^seq_(.+)$/.exec(name);
  return seq ? `n_${seq[1]}_total` : name;
}

const round = (x: number, digits: number) => {
  const f = 10 ** digits;
  return Math.sign(x) * (Math.round(Math.abs(x) * f) / f);
};

/** Durations as a person says them: "less than a day", "1 day", "45 days", "5 months", "2.1 years". */
export function daysWords(days: number): string {
  const d = round(days, 0);
  if (d < 1) return 'less than a day';
  if (d === 1) return '1 day';
  if (d < 60) return `${d} days`;
  if (d < 730) return `${round(days / 30.44, 0)} months`;
  return `${round(days / 365.25, 1).toFixed(1)} years`;
}

/** The phrase with its value, or the raw name when the dictionary does not know it. */
export function phraseText(p: Phrase, value: number, opts: { tenureDays?: number; stages?: string[] } = {}): string {
  if (p.never && opts.tenureDays != null && value > opts.tenureDays) return p.never;
  const v = value * (p.scale ?? 1);
  const fill = (s: string, plural = true) => p.text.replace('{v}', s).replace('{s}', plural ? 's' : '');
  switch (p.format) {
    case 'count':
      return fill(String(round(v, 0)), round(v, 0) !== 1);
    case 'days':
      return fill(daysWords(v));
    case 'money':
      return fill(round(v, 2).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }));
    case 'percent':
      return fill(`${round(100 * v, 0)}%`);
    case 'decimal':
      return fill(round(v, 1).toFixed(1));
    case 'stage':
      return v >= 1 ? fill(opts.stages?.[round(v, 0) - 1] ?? String(round(v, 0))) : 'no funnel stage reached';
    case 'flag':
      return v >= 0.5 ? p.text : (p.otherwise ?? p.text);
  }
}

const sqlText = (s: string) => quoteLiteral(s);

/** The same rendering as phraseText, as a DuckDB VARCHAR expression over the numeric expression `x`. */
export function phraseSql(p: Phrase, x: string, opts: { tenure?: string; stages?: string[] } = {}): string {
  const v = p.scale && p.scale !== 1 ? `(${x} * ${p.scale})` : `(${x})`;
  const [before, after] = p.text.split('{v}');
  const plural = (n: string) => (after?.includes('{s}') ? `CASE WHEN ${n} = 1 THEN '' ELSE 's' END` : `''`);
  const fillOrdered = (s: string, n: string) => {
    if (!after?.includes('{s}')) return `(${sqlText(before)} || ${s} || ${sqlText(after ?? '')})`;
    const [a, b] = after.split('{s}');
    return `(${sqlText(before)} || ${s} || ${sqlText(a)} || ${plural(n)} || ${sqlText(b)})`;
  };
  const rounded = (digits: number) => `round(${v}, ${digits})`;
  let body: string;
  switch (p.format) {
    case 'count':
      body = fillOrdered(`CAST(CAST(${rounded(0)} AS BIGINT) AS VARCHAR)`, rounded(0));
      break;
    case 'days':
      body = fillOrdered(daysSql(v), '0');
      break;
    case 'money':
      body = fillOrdered(`format('{:,.2f}', ${rounded(2)})`, '0');
      break;
    case 'percent':
      body = fillOrdered(`CAST(CAST(round(100 * ${v}) AS BIGINT) AS VARCHAR) || '%'`, '0');
      break;
    case 'decimal':
      body = fillOrdered(`format('{:.1f}', ${rounded(1)})`, '0');
      break;
    case 'stage': {
      const names = (opts.stages ?? []).map((s, i) => `WHEN ${i + 1} THEN ${sqlText(s)}`).join(' ');
      const stage = `CASE CAST(${rounded(0)} AS BIGINT) ${names} ELSE CAST(CAST(${rounded(0)} AS BIGINT) AS VARCHAR) END`;
      body = `CASE WHEN ${v} >= 1 THEN ${fillOrdered(stage, '0')} ELSE 'no funnel stage reached' END`;
      break;
    }
    case 'flag':
      body = `CASE WHEN ${v} >= 0.5 THEN ${sqlText(p.text)} ELSE ${sqlText(p.otherwise ?? p.text)} END`;
      break;
  }
  return p.never && opts.tenure
    ? `CASE WHEN (${x}) > (${opts.tenure}) THEN ${sqlText(p.never)} ELSE ${body} END`
    : body;
}

function daysSql(v: string): string {
  const d = `round(${v})`;
  return `CASE WHEN ${d} < 1 THEN 'less than a day' WHEN ${d} = 1 THEN '1 day'
    WHEN ${d} < 60 THEN CAST(CAST(${d} AS BIGINT) AS VARCHAR) || ' days'
    WHEN ${d} < 730 THEN CAST(CAST(round(${v} / 30.44) AS BIGINT) AS VARCHAR) || ' months'
    ELSE format('{:.1f}', round(${v} / 365.25, 1)) || ' years' END`;
}
