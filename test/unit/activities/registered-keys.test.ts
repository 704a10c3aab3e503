/**
 * The activities as the worker registers them (createActivities: behind the store boundary, no FUNNELCAST_STORE),
 * run under MockActivityEnvironment on a tiny pipeline: what leaves each step carries keys relative to the home
 * (`warehouse/…`, `runs/…`), never this machine's home, and the next step takes those keys as its input.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createActivities } from '../../../activities';
import type { ResolvedRun } from '../../../activities/definition';
import type { ExtractCounts, FeatureRef } from '../../../workflows/types';
import { env, tinyPipeline } from '../../helpers/tiny-pipeline';

describe('registered activities hand keys across (local store)', () => {
  it('extract, resolveCutoff and buildFeatures: keys out, keys in, files where the keys say', async () => {
    const saved = process.env.FUNNELCAST_STORE;
    delete process.env.FUNNELCAST_STORE;
    try {
      const p = await tinyPipeline('keysact', { users: 150 });
      const acts = createActivities();
      const x: ExtractCounts = await env().run(acts.extractSources, { loaded: p.loaded });
      assert.equal(x.database, 'warehouse/keysact.duckdb');
      const r: ResolvedRun = await env().run(acts.resolveCutoff, { loaded: p.loaded, cutoff: '2024-03-15' });
      assert.equal(r.runDir, `runs/keysact/${r.runId}`);
      const f: FeatureRef = await env().run(acts.buildFeatures, {
        loaded: p.loaded,
        cutoff: r.cutoff,
        runDir: r.runDir,
      });
      assert.equal(f.featuresPath, `runs/keysact/${r.runId}/features/features.parquet`);
      assert.equal(f.funnelPath, `runs/keysact/${r.runId}/features/funnel.json`);
      for (const out of [x, r, f]) assert.ok(!JSON.stringify(out).includes(p.home), JSON.stringify(out));
      assert.ok(existsSync(join(p.home, f.featuresPath)), 'the key names the file under this home');
      assert.ok(f.users > 100);
    } finally {
      if (saved !== undefined) process.env.FUNNELCAST_STORE = saved;
    }
  });
});
