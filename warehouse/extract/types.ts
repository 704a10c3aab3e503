import type { DuckDBConnection } from '@duckdb/node-api';
import type { CustomersSource, EventsSource, LabelsSource } from '../../pipelines/schema';

export interface FileReport {
  file: string;
  size: number;
  sha256: string;
  read: number;
  loaded: number;
  duplicates: number;
  quarantined: number;
  /** Already loaded with this content: nothing read. */
  skipped: boolean;
}

export interface SourceReport {
  source: 'events' | 'customers' | 'labels';
  read: number;
  loaded: number;
  duplicates: number;
  quarantined: number;
  files: FileReport[];
  quarantineReasons: Record<string, number>;
}

export interface ExtractSummary {
  pipeline: string;
  database: string;
  sources: SourceReport[];
  users: number;
  events: number;
  minTs: string | null;
  maxTs: string | null;
  seconds: number;
}

export interface ExtractOptions {
  onProgress?: (p: { file: string; done: number; total: number }) => void;
  signal?: AbortSignal;
  /** Rows with a timestamp later than this are quarantined as "timestamp in the future" (default: now + 1 day). */
  futureAfter?: Date;
  /** The live demo feed's file (sources.events.live, data/live.ts): loaded as events after the source's own files. */
  liveEvents?: string;
  /** For tests only: runs inside a file's transaction between staging and load. */
  hooks?: ExtractHooks;
}

export interface ExtractHooks {
  /** Called with the staging table of a file's validated rows just before they are inserted. */
  afterStaging?: (conn: DuckDBConnection, stage: string) => Promise<void>;
}

/** An input problem the user must fix: names the file and, where it applies, the column. */
export class ExtractError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly column?: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}

export type SourceName = SourceReport['source'];
export type AnySource = EventsSource | CustomersSource | LabelsSource;
export type Format = 'csv' | 'tsv' | 'parquet' | 'json' | 'ndjson';
