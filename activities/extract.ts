import type { LoadedPipeline } from '../pipelines/load';
import { join } from 'node:path';
import { funnelcastHome, paths } from '../infra/paths';
import { appendLiveDays } from '../data/live';
import { serialized, withDuckDB } from '../warehouse/db';
import { extractPipeline } from '../warehouse/extract';
import type { ExtractCounts } from '../workflows/types';
import { cancellationSignal, failFastOnBadInput, heartbeat, withHeartbeat } from './context';

/**
 * Loads the pipeline's sources into its DuckDB file. Safe to retry after a crash: each file loads in one
 * transaction and files already loaded (same size and hash) are skipped, so nothing is duplicated or lost.
 */
export async function extractSources(input: {
  loaded: LoadedPipeline;
  /** A scheduled run's time: a live demo source (sources.events.live) is first appended with the days up to it. */
  liveUntil?: string;
}): Promise<ExtractCounts> {
  return failFastOnBadInput(async () => {
    const def = input.loaded.definition;
    const database = paths.warehouse(def.name);
    const liveEvents = def.sources.events.live ? join(funnelcastHome(), 'live', def.name, 'events.csv') : undefined;
    let last: unknown = { step: 'extract' };
    // DuckDB loads a file off the event loop, so a timer heartbeats even during one long file.
    const s = await withHeartbeat(
      serialized(database, async () => {
        if (liveEvents && input.liveUntil) {
          last = { step: 'extract', live: 'generating' };
          last = {
            step: 'extract',
            live: await appendLiveDays(
              liveEvents,
              def.sources.events.live!,
              new Date(input.liveUntil),
              cancellationSignal(),
            ),
          };
        }
        return withDuckDB(database, (conn) =>
          extractPipeline(conn, input.loaded, {
            liveEvents,
            onProgress: (p) => {
              last = p;
              heartbeat(p);
            },
            signal: cancellationSignal(),
          }),
        );
      }),
      () => last,
    );
    const sum = (k: 'read' | 'loaded' | 'duplicates' | 'quarantined') => s.sources.reduce((a, src) => a + src[k], 0);
    const files = s.sources.flatMap((src) => src.files);
    return {
      read: sum('read'),
      loaded: sum('loaded'),
      duplicates: sum('duplicates'),
      quarantined: sum('quarantined'),
      users: s.users,
      events: s.events,
      minTs: s.minTs,
      maxTs: s.maxTs,
      database,
      files: files.length,
      filesSkipped: files.filter((f) => f.skipped).length,
    };
  });
}
