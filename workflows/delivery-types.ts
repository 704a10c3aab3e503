/**
 * What a run's delivery steps hand back through Temporal: each list's export, its webhook and bucket uploads, and
 * earlier sends measured on this run's data. Types only (workflows import them through types.ts).
 */

export interface WebhookOutcome {
  list: string;
  outcome: 'delivered' | 'failed';
  rows: number;
  batches: number;
  reason?: string;
}

export interface BucketOutcome {
  bucket: string;
  delivered: boolean;
  objects: number;
  bytes: number;
  reason?: string;
}

export interface ExportRef {
  campaign: string;
  action: string;
  rows: number;
  expectedConversions: number;
  /** At a past cutoff whose outcomes are known: users on the list who converted in [cutoff, cutoff + horizon). */
  realisedConversions?: number | null;
  csvPath: string;
  parquetPath: string;
  /** Every other file of the list: README, upload formats (delivered with it). */
  otherFiles?: string[];
  /** The held-out control group (never delivered): its share and users; `rows` counts the delivered users. */
  control?: { share: number; rows: number };
  /** At a past cutoff: realised rate against a random list of the same size, and realised / expected. */
  backtest?: {
    realisedRate: number;
    randomRate: number;
    liftOverRandom: number | null;
    realisedOverExpected: number | null;
  } | null;
}

/** One earlier send's campaign as a run's measurement step found it (activities/measure.ts, lift/run.ts). */
export interface MeasuredCampaignRef {
  runId: string;
  campaign: string;
  cutoff: string;
  status: 'measured' | 'pending' | 'no_control';
  reason: string | null;
  /** Absolute conversion lift (treatment − control) with its 95 % interval. */
  lift: { estimate: number; low: number; high: number } | null;
  measurementPath: string;
}
