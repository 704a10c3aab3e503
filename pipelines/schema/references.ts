import type { CampaignFilter } from './segments';

/** The parts of a definition that name event types (a structural subset of PipelineDefinition). */
interface Referring {
  label: { event: string };
  features?: { funnel?: string[] };
  churn?: { customersOf?: string; activeEvent?: string };
  campaigns?: { filter: CampaignFilter }[];
}

/** One place in the definition that names an event type, with its path as the user would write it. */
export interface EventReference {
  path: string;
  event: string;
}

function filterEvents(f: CampaignFilter, path: string, out: EventReference[]): void {
  if ('all' in f) f.all.forEach((g, i) => filterEvents(g, `${path}.all.${i}`, out));
  else if ('any' in f) f.any.forEach((g, i) => filterEvents(g, `${path}.any.${i}`, out));
  else if ('not' in f) filterEvents(f.not, `${path}.not`, out);
  else if ('event' in f) out.push({ path: `${path}.event`, event: f.event });
}

/**
 * Every event type the definition relies on: the label event, the funnel stages, churn's events and the events
 * campaign filters test. Each must exist in the data, or the run would train on all-zero labels or features.
 */
export function eventReferences(d: Referring): EventReference[] {
  const out: EventReference[] = [{ path: 'label.event', event: d.label.event }];
  (d.features?.funnel ?? []).forEach((e, i) => out.push({ path: `features.funnel.${i}`, event: e }));
  if (d.churn?.customersOf) out.push({ path: 'churn.customersOf', event: d.churn.customersOf });
  if (d.churn?.activeEvent) out.push({ path: 'churn.activeEvent', event: d.churn.activeEvent });
  (d.campaigns ?? []).forEach((c, i) => filterEvents(c.filter, `campaigns.${i}.filter`, out));
  return out;
}

/** The message for a reference to an unknown event type: names the field and lists the known types. */
export function unknownEventMessage(ref: EventReference, known: string[], where: string): string {
  return `"${ref.event}" is not a known event type (${where}: ${known.map((k) => `"${k}"`).join(', ') || 'none'})`;
}
