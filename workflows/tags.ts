/**
 * Sets the funnelcast search attributes on the current workflow (workflows/search-attributes.ts). Behind a patch
 * marker, so histories written before the attributes existed still replay without these commands.
 */
import { isCancellation, patched, upsertSearchAttributes } from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { CUTOFF, ENGINE, KIND, OUTCOME, PIPELINE } from '../infra/search-attribute-keys';

export interface RunTags {
  pipeline?: string;
  cutoff?: string;
  kind?: string;
  engine?: string;
  outcome?: 'running' | 'succeeded' | 'failed' | 'cancelled';
}

export function tagWorkflow(t: RunTags): void {
  if (!patched('funnelcast-search-attributes')) return;
  const pairs: SearchAttributeUpdatePair[] = [];
  if (t.pipeline) pairs.push({ key: PIPELINE, value: t.pipeline });
  if (t.cutoff) pairs.push({ key: CUTOFF, value: new Date(t.cutoff) });
  if (t.kind) pairs.push({ key: KIND, value: t.kind });
  if (t.engine) pairs.push({ key: ENGINE, value: t.engine });
  if (t.outcome) pairs.push({ key: OUTCOME, value: t.outcome });
  if (pairs.length) upsertSearchAttributes(pairs);
}

/** Runs `body` and records how it ended in FunnelcastOutcome (the error still propagates). */
export async function withOutcome<T>(body: () => Promise<T>): Promise<T> {
  try {
    const r = await body();
    tagWorkflow({ outcome: 'succeeded' });
    return r;
  } catch (e) {
    tagWorkflow({ outcome: isCancellation(e) ? 'cancelled' : 'failed' });
    throw e;
  }
}
