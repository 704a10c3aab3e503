/**
 * The custom search attributes every funnelcast workflow carries, so the Temporal Web UI and
 * `temporal workflow list --query "FunnelcastPipeline='sample' AND FunnelcastOutcome='failed'"` filter runs by
 * pipeline, cutoff, kind, engine and outcome. Registered when the embedded server starts (`--search-attribute`) and
 * by every worker on its namespace (an external or older server), before any workflow sets them.
 */
import { defineSearchAttributeKey, type SearchAttributeType } from '@temporalio/common';

export const PIPELINE = defineSearchAttributeKey('FunnelcastPipeline', 'KEYWORD');
export const CUTOFF = defineSearchAttributeKey('FunnelcastCutoff', 'DATETIME');
/** live (a run's latest cutoff from the CLI), scheduled, backfill (or a backfill's run), rerun. */
export const KIND = defineSearchAttributeKey('FunnelcastKind', 'KEYWORD');
export const ENGINE = defineSearchAttributeKey('FunnelcastEngine', 'KEYWORD');
/** running, succeeded, failed, cancelled. */
export const OUTCOME = defineSearchAttributeKey('FunnelcastOutcome', 'KEYWORD');

export const FUNNELCAST_SEARCH_ATTRIBUTES = [PIPELINE, CUTOFF, KIND, ENGINE, OUTCOME];

/** The server's type name of each attribute (what `temporal server start-dev --search-attribute K=T` takes). */
const SERVER_TYPE: Partial<Record<SearchAttributeType, string>> = { KEYWORD: 'Keyword', DATETIME: 'Datetime' };
export const searchAttributeFlags = (): string[] =>
  FUNNELCAST_SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=${SERVER_TYPE[k.type]}`]);

/** The kind of a run from what started it. */
export function runKind(trigger: string | undefined, rerunOf?: string): string {
  if (rerunOf) return 'rerun';
  if (trigger === 'schedule') return 'scheduled';
  if (trigger === 'backfill') return 'backfill';
  return 'live';
}
