/**
 * The definition activities as adapters (MockActivityEnvironment, real DuckDB warehouse filled by the extract
 * activity): loadDefinition loads a bundled pipeline or a definition file and turns a missing or invalid one into
 * a non-retryable failure; resolveCutoff / resolveRuns give the content-addressed run id (same inputs, same id;
 * another cutoff, a backtest or new data, another id), the training cutoff one horizon earlier, the data's clock
 * for scheduled runs, a note when the data stops before the cutoff, and a non-retryable failure for a cutoff that
 * is not a date.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { loadDefinition, resolveCutoff, resolveRuns, type ResolvedRun } from '../../../activities/definition';
import { extractSources } from '../../../activities/extract';
import { paths } from '../../../infra/paths';
import type { LoadedPipeline } from '../../../pipelines/load';
import { tempDir } from '../../helpers/warehouse';
import { env, eventsCsv, tinyPipeline } from '../../helpers/tiny-pipeline';

const DAY = 86_400_000;

const nonRetryable = (pattern: RegExp) => (e: Error) => {
  assert.ok(e instanceof ApplicationFailure && e.nonRetryable, `non-retryable, got ${e}`);
  assert.match(e.message, pattern);
  return true;
};

describe('loadDefinition (activity)', () => {
  it('loads a bundled pipeline by name and a definition file by path', async () => {
    const sample: LoadedPipeline = await env().run(loadDefinition, { pipeline: 'sample' });
    assert.equal(sample.definition.name, 'sample');
    assert.equal(sample.definition.label.horizon, '30d');
    assert.match(sample.hash, /^[0-9a-f]{64}$/);
    const dir = tempDir('fc-def-');
    const file = join(dir, 'mine.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'mine',
        sources: { events: { path: 'e.csv', columns: { user_id: 'u', ts: 't', event: 'e' }, eventTypes: ['buy'] } },
        label: { event: 'buy', horizon: '14d' },
      }),
    );
    const mine: LoadedPipeline = await env().run(loadDefinition, { pipeline: file });
    assert.equal(mine.definition.name, 'mine');
    assert.equal(mine.baseDir, dir);
    const elsewhere = tempDir('fc-def-src-');
    assert.equal(
      ((await env().run(loadDefinition, { pipeline: file, sourcesDir: elsewhere })) as LoadedPipeline).baseDir,
      elsewhere,
    );
  });

  it('a missing or invalid definition fails non-retryably', async () => {
    await assert.rejects(env().run(loadDefinition, { pipeline: 'no-such-pipeline' }), nonRetryable(/no-such-pipeline/));
    const file = join(tempDir('fc-def-bad-'), 'bad.json');
    writeFileSync(file, JSON.stringify({ name: 'bad', label: { event: 'buy', horizon: 'soon' } }));
    await assert.rejects(
      env().run(loadDefinition, { pipeline: file }),
      nonRetryable(/Invalid pipeline definition .*bad.json:[^]*sources: Required[^]*label.horizon: write durations/),
    );
  });
});

describe('resolveCutoff / resolveRuns (activities)', () => {
  it('the same inputs give the same run; another cutoff, a backtest or new data another one', async () => {
    const p = await tinyPipeline('defact', { users: 200 });
    const cutoff = '2024-03-15T00:00:00.000Z';
    const r: ResolvedRun = await env().run(resolveCutoff, { loaded: p.loaded, cutoff: '2024-03-15' });
    assert.equal(r.cutoff, cutoff);
    assert.equal(r.horizonMs, 30 * DAY);
    assert.equal(r.trainingCutoff, new Date(Date.parse(cutoff) - 30 * DAY).toISOString());
    assert.match(r.runId, /^defact-20240315T000000Z-[0-9a-f]+$/);
    assert.ok(r.runId.endsWith(r.key));
    assert.equal(r.runDir, paths.runDir('defact', r.runId));
    assert.equal(r.cutoffNote, null);
    assert.deepEqual(await env().run(resolveCutoff, { loaded: p.loaded, cutoff }), r, 'same inputs, same run');

    const [a, b]: ResolvedRun[] = await env().run(resolveRuns, {
      loaded: p.loaded,
      cutoffs: [cutoff, '2024-03-22T00:00:00Z'],
      backtest: true,
    });
    assert.notEqual(a!.key, r.key, 'a backtest is keyed apart from the live run');
    assert.equal(a!.cutoff, cutoff);
    assert.match(b!.runId, /^defact-20240322T000000Z-/);

    // New data in the warehouse: a new run at the same cutoff.
    eventsCsv(join(p.loaded.baseDir, 'events.csv'), 220, 1);
    await env().run(extractSources, { loaded: p.loaded });
    const after: ResolvedRun = await env().run(resolveCutoff, { loaded: p.loaded, cutoff });
    assert.notEqual(after.key, r.key);
  });

  it('a scheduled run on the data clock, data that stops before the cutoff, and a cutoff that is not a date', async () => {
    const p = await tinyPipeline('defact2', { users: 100, extra: { clock: 'data' } });
    // The events end before 2024-04-30: a scheduled run in June is read on the data's clock.
    const s: ResolvedRun = await env().run(resolveCutoff, {
      loaded: p.loaded,
      cutoff: '2024-06-30T00:00:00Z',
      scheduled: true,
    });
    assert.ok(Date.parse(s.cutoff) < Date.parse('2024-04-30T00:00:00Z'), s.cutoff);
    assert.equal(Date.parse(s.cutoff) % DAY, 0, 'the end of a complete day');
    assert.match(s.cutoffNote!, /clock "data": scheduled at 2024-06-30T00:00:00.000Z/);

    // Not scheduled: the cutoff is kept, and the model trains where outcomes were observed, said in the note.
    const late: ResolvedRun = await env().run(resolveCutoff, { loaded: p.loaded, cutoff: '2024-06-30T00:00:00Z' });
    assert.equal(late.cutoff, '2024-06-30T00:00:00.000Z');
    assert.ok(Date.parse(late.trainingCutoff) < Date.parse('2024-05-31T00:00:00Z'), late.trainingCutoff);
    assert.match(late.cutoffNote!, /the data's last event is 2024-04-/);

    await assert.rejects(
      env().run(resolveCutoff, { loaded: p.loaded, cutoff: 'next tuesday' }),
      nonRetryable(/cutoff "next tuesday" is not an ISO date/),
    );
  });
});
