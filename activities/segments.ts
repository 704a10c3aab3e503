import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LoadedPipeline } from '../pipelines/load';
import { paths, runCutoffStamp } from '../infra/paths';
import { withDuckDB } from '../warehouse/db';
import { buildSegments as buildSegmentTables, type SegmentsResult } from '../segments';
import type { ExportRef } from '../workflows/types';
import { deliverExports, type Delivery } from '../segments/deliver';
import { cancellationSignal, failFastOnBadInput, withHeartbeat } from './context';

export interface SegmentsRef {
  segmentsPath: string;
  manifestPath: string;
  exports: ExportRef[];
  /** Where the lists were delivered (`export.destination`), or why not. */
  delivery: Delivery | null;
  /** Small summary for the report's marketer page. */
  marketer: {
    segmentSizes: SegmentsResult['segmentSizes'];
    campaigns: {
      name: string;
      action: string;
      description?: string;
      kind?: 'campaign' | 'rfm_segment' | 'cluster';
      rows: number;
      expectedConversions: number;
      realisedConversions: number | null;
      control?: { share: number; rows: number };
    }[];
    sampleRows: Record<string, unknown>[];
    clusters: SegmentsResult['clusters']['descriptions'];
    changeReport: SegmentsResult['changeReport'];
  };
}

/**
 * The latest run of the same pipeline at an earlier cutoff that has segments: runs at the same cutoff (other
 * definitions of the pipeline) are not "previous"; among runs at that earlier cutoff, the last one written.
 */
export function previousRunDir(runDir: string): string | undefined {
  const parent = dirname(runDir);
  const mine = runCutoffStamp(runDir.slice(parent.length + 1));
  const earlier = existsSync(parent)
    ? readdirSync(parent)
        .filter((d) => runCutoffStamp(d) < mine && existsSync(join(parent, d, 'segments.parquet')))
        .map((d) => ({ d, stamp: runCutoffStamp(d), at: statSync(join(parent, d, 'segments.parquet')).mtimeMs }))
        .sort((a, b) => (a.stamp === b.stamp ? a.at - b.at : a.stamp < b.stamp ? -1 : 1))
    : [];
  return earlier.length ? join(parent, earlier[earlier.length - 1].d) : undefined;
}

export async function buildSegments(input: {
  loaded: LoadedPipeline;
  runId: string;
  cutoff: string;
  runDir: string;
  featuresPath: string;
  scoresPath: string;
  reasonsPath: string;
  clvPath?: string;
  upliftPath?: string;
  modelVersion: string;
  /** The features at the cutoff carry observed outcomes (a past cutoff): record each list's realised conversions. */
  outcomesObserved?: boolean;
}): Promise<SegmentsRef> {
  return failFastOnBadInput(async () => {
    const def = input.loaded.definition;
    const r = await withHeartbeat(
      withDuckDB(
        paths.warehouse(def.name),
        (conn) =>
          buildSegmentTables(conn, {
            definition: def,
            runId: input.runId,
            cutoff: new Date(input.cutoff),
            featuresPath: input.featuresPath,
            scoresPath: input.scoresPath,
            reasonsPath: input.reasonsPath,
            clvPath: input.clvPath,
            upliftPath: input.upliftPath,
            outDir: input.runDir,
            modelVersion: input.modelVersion,
            outcomesObserved: input.outcomesObserved,
            previousRunDir: previousRunDir(input.runDir),
            seed: def.model.seed,
            signal: cancellationSignal(),
          }),
        cancellationSignal(),
      ),
      () => ({ step: 'segments' }),
    );
    const delivery = def.export.destination
      ? deliverExports({
          root: paths.exportRoot(),
          destination: def.export.destination,
          cutoff: input.cutoff,
          files: r.campaigns.flatMap((c) => [c.csvPath, c.parquetPath, c.readmePath, ...c.uploads.map((u) => u.path)]),
          manifestPath: r.manifestPath,
        })
      : null;
    return {
      segmentsPath: r.segmentsPath,
      manifestPath: r.manifestPath,
      delivery,
      exports: r.campaigns.map((c) => ({
        campaign: c.name,
        action: c.action,
        rows: c.rows,
        expectedConversions: c.expectedConversions,
        realisedConversions: c.realisedConversions,
        csvPath: c.csvPath,
        parquetPath: c.parquetPath,
        otherFiles: [c.readmePath, ...c.uploads.map((u) => u.path)],
        control: { share: c.control.share, rows: c.control.rows },
        backtest: c.backtest,
      })),
      marketer: {
        segmentSizes: r.segmentSizes,
        campaigns: r.campaigns.map((c) => ({
          name: c.name,
          action: c.action,
          description: c.meaning.description,
          kind: c.kind,
          rows: c.rows,
          expectedConversions: c.expectedConversions,
          realisedConversions: c.realisedConversions,
          control: { share: c.control.share, rows: c.control.rows },
        })),
        sampleRows: r.sampleRows,
        clusters: r.clusters.descriptions,
        changeReport: r.changeReport,
      },
    };
  });
}
