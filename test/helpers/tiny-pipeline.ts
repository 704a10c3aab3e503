/**
 * A tiny real pipeline for activity unit tests: a generated events CSV (deterministic from the seed), loaded by
 * the extract activity into a fresh FUNNELCAST_HOME, so later steps (features, train, publish, score, segments)
 * run on what the real ones produce, in a second or two. Each call makes its own home and pipeline.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { extractSources } from '../../activities/extract';
import { buildFeatures } from '../../activities/features';
import { trainModel } from '../../activities/train';
import { publishModel } from '../../activities/publish';
import { paths } from '../../infra/paths';
import type { LoadedPipeline } from '../../pipelines/load';
import type { PipelineInput } from '../../pipelines/schema';
import type { ExtractCounts, FeatureRef, PublishResult, TrainResult } from '../../workflows/types';
import { inlinePipeline, tempDir } from './warehouse';

export const env = (attempt = 1) =>
  new MockActivityEnvironment({ attempt, heartbeatTimeoutMs: 30_000 }, { logger: new DefaultLogger('WARN') });

/** A small LCG: the same seed writes the same events. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const DAY = 86_400_000;
const START = Date.parse('2024-01-01T00:00:00Z');

/**
 * `users` shoppers over 120 days from 2024-01-01; engaged ones (more views, carts) buy more often, before and after
 * any cutoff, so a model has something to learn. `shift` adds to every view count (a drifted population).
 */
export function eventsCsv(file: string, users: number, seed: number, shift = 0): void {
  const r = rng(seed);
  const lines = ['user_id,timestamp,event,item_id,revenue,session_id'];
  for (let u = 0; u < users; u++) {
    const engaged = r() < 0.35;
    const n = 2 + Math.floor(r() * (engaged ? 14 : 5)) + shift;
    for (let e = 0; e < n; e++) {
      const t = new Date(START + Math.floor(r() * 120 * DAY)).toISOString();
      const roll = r();
      const ev = roll < (engaged ? 0.2 : 0.04) ? 'transaction' : roll < 0.4 ? 'addtocart' : 'view';
      const rev = ev === 'transaction' ? (10 + r() * 90).toFixed(2) : '';
      lines.push(`u${u},${t},${ev},i${Math.floor(r() * 30)},${rev},s${u}-${e}`);
    }
  }
  writeFileSync(file, lines.join('\n') + '\n');
}

export function tinyDefinition(name: string, extra: Partial<PipelineInput> = {}): PipelineInput {
  return {
    name,
    sources: {
      events: {
        path: 'events.csv',
        columns: {
          user_id: 'user_id',
          ts: 'timestamp',
          event: 'event',
          item_id: 'item_id',
          revenue: 'revenue',
          session_id: 'session_id',
        },
        eventTypes: ['view', 'addtocart', 'transaction'],
      },
    },
    label: { event: 'transaction', horizon: '30d' },
    features: { windows: ['7d', '30d'], funnel: ['view', 'addtocart', 'transaction'] },
    model: { engine: 'logistic', seed: 42 },
    registry: { primaryMetric: 'roc_auc', tolerance: 0.01 },
    segments: { deciles: '1-is-top' },
    ...extra,
  } as PipelineInput;
}

export interface TinyPipeline {
  loaded: LoadedPipeline;
  home: string;
  extract: ExtractCounts;
}

/** A fresh home (FUNNELCAST_HOME is set to it) with the pipeline's events extracted into its warehouse. */
export async function tinyPipeline(
  name: string,
  opts: { users?: number; seed?: number; extra?: Partial<PipelineInput> } = {},
): Promise<TinyPipeline> {
  const home = tempDir(`fc-${name}-home-`);
  process.env.FUNNELCAST_HOME = home;
  const base = tempDir(`fc-${name}-def-`);
  eventsCsv(join(base, 'events.csv'), opts.users ?? 600, opts.seed ?? 1);
  const loaded = inlinePipeline(tinyDefinition(name, opts.extra), base);
  const extract: ExtractCounts = await env().run(extractSources, { loaded });
  return { loaded, home, extract };
}

/** Features at `cutoff` into `<runDir>/<folder>` through the features activity. */
export function features(p: TinyPipeline, runDir: string, cutoff: string, folder?: string): Promise<FeatureRef> {
  return env().run(buildFeatures, { loaded: p.loaded, cutoff, runDir, folder });
}

/** The engine of the definition trained on its holdout split through the train activity (on this thread). */
export function trainHoldout(p: TinyPipeline, runDir: string, f: FeatureRef, engine?: string): Promise<TrainResult> {
  const def = p.loaded.definition;
  return env().run(trainModel, {
    runDir,
    featuresPath: f.featuresPath,
    sequencesPath: f.sequencesPath,
    vocabPath: f.vocabPath,
    model: def.model,
    engine: engine ?? def.model.engine,
    split: { kind: 'holdout' as const },
  });
}

/** The holdout model of a run published through the publish activity, as the workflow calls it (no CV, no baselines). */
export function publish(
  p: TinyPipeline,
  run: { runId: string; runDir: string; cutoff: string; trainingCutoff: string },
  f: FeatureRef,
  trained: TrainResult,
): Promise<PublishResult> {
  return env().run(publishModel, {
    loaded: p.loaded,
    ...run,
    trained,
    cv: null,
    baselines: [],
    extract: p.extract,
    features: f,
  });
}

/** A run folder of the pipeline at the given run id (under the home, as the workflow makes them). */
export const runDirOf = (p: TinyPipeline, runId: string) => paths.runDir(p.loaded.definition.name, runId);
