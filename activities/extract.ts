import type { LoadedPipeline } from '../pipelines/load';
import { paths } from '../infra/paths';
import { serialized, withDuckDB } from '../warehouse/db';
import { extractPipeline } from '../warehouse/extract';
import type { ExtractCounts } from '../workflows/types';
import { cancellationSignal, failFastOnBadInput, heartbeat, withHeartbeat } from './context';

/**
 * Loads the pipeline's sources into its DuckDB file. Safe to retry after a crash: each file loads in one
 * transaction and files already loaded (same size and hash) are skipped, so nothing is duplicated or lost.
 */
export async function extractSources(input: { loaded: LoadedPipeline }): Promise<ExtractCounts> {
  return failFastOnBadInput(async () => {
    const database = paths.warehouse(input.loaded.definition.name);
    let last: unknown = { step: 'extract' };
    // DuckDB loads a file off the event loop, so a timer heartbeats even during one long file.
    const s = await withHeartbeat(
      serialized(database, () =>
        withDuckDB(database, (conn) =>
          extractPipeline(conn, input.loaded, {
            onProgress: (p) => {
              last = p;
              heartbeat(p);
            },
            signal: cancellationSignal(),
          }),
        ),
      ),
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
