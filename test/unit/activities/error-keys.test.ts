/**
 * Issue 19: an error raised inside an activity becomes a failure in the workflow's history, which every machine
 * reads, so it must not name this worker's paths: a DuckDB error quoting a file of the home, an ENOENT of a cache
 * entry, a non-retryable input error naming a run folder. Under MockActivityEnvironment, with real DuckDB and real
 * files: the error that leaves the activity names keys (message, stack and cause), keeps its type and
 * retryability, and the worker's log keeps the error as raised.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { ContentCache, StoreBoundary } from '../../../store';
import { withStore } from '../../../activities/store-boundary';
import { withDuckDB } from '../../../warehouse/db';
import { projectRoot } from '../../../infra/root';

function machine() {
  const home = mkdtempSync(join(tmpdir(), 'fc-errkeys-home-'));
  const cacheDir = mkdtempSync(join(tmpdir(), 'fc-errkeys-cache-'));
  const runDir = join(home, 'runs', 'p', 'r1');
  mkdirSync(runDir, { recursive: true });
  const acts = withStore(
    {
      duckdb: async (a: { runDir: string }) =>
        withDuckDB(':memory:', (c) => c.run(`SELECT * FROM read_parquet('${join(a.runDir, 'features.parquet')}')`)),
      cacheEntry: async () => readFileSync(join(cacheDir, 'sha256', 'ab'.repeat(32))),
      badInput: async (a: { runDir: string }) => {
        throw ApplicationFailure.nonRetryable(`no scores in ${join(a.runDir, 'scores.parquet')}.`, 'BadInput');
      },
      wrapped: async (a: { runDir: string }) => {
        try {
          readFileSync(join(a.runDir, 'model.json'));
        } catch (cause) {
          throw new Error('the model could not be read', { cause });
        }
      },
    },
    new StoreBoundary(null, new ContentCache(cacheDir), home),
  );
  const logs: LogEntry[] = [];
  const env = () =>
    new MockActivityEnvironment({ attempt: 1 }, { logger: new DefaultLogger('WARN', (e) => logs.push(e)) });
  return { home, cacheDir, acts, logs, env };
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  assert.fail('the activity did not fail');
}

function assertNoPaths(e: Error, dirs: string[]): void {
  for (const err of [e, e.cause as Error | undefined].filter(Boolean) as Error[])
    for (const text of [err.message, err.stack ?? ''])
      for (const d of dirs) assert.ok(!text.includes(d), `"${d}" in: ${text.slice(0, 400)}`);
}

describe('errors leave an activity with keys, not the worker’s paths (issue 19)', () => {
  it('a DuckDB error quoting a file of the home names its key; the log keeps the path', async () => {
    const m = machine();
    const e = await failure(m.env().run(m.acts.duckdb, { runDir: 'runs/p/r1' }));
    assert.match(
      e.message,
      /'runs\/p\/r1\/features\.parquet'|"runs\/p\/r1\/features\.parquet"|runs\/p\/r1\/features\.parquet/,
    );
    assertNoPaths(e, [m.home, projectRoot() + '/']);
    assert.ok(
      m.logs.some((l) => l.message.includes(join(m.home, 'runs', 'p', 'r1', 'features.parquet'))),
      'the worker’s log has the error as raised',
    );
  });

  it('an ENOENT of a cache entry names cache/sha256/…', async () => {
    const m = machine();
    const e = await failure(m.env().run(m.acts.cacheEntry));
    assert.ok(e.message.includes(`'cache/sha256/${'ab'.repeat(32)}'`), e.message);
    assert.equal((e as NodeJS.ErrnoException).code, 'ENOENT', 'still the same error');
    assertNoPaths(e, [m.cacheDir, m.home]);
  });

  it('a non-retryable input error keeps its type and retryability; its cause is translated too', async () => {
    const m = machine();
    const e = await failure(m.env().run(m.acts.badInput, { runDir: 'runs/p/r1' }));
    assert.ok(e instanceof ApplicationFailure);
    assert.equal(e.message, 'no scores in runs/p/r1/scores.parquet.');
    assert.equal(e.type, 'BadInput');
    assert.equal(e.nonRetryable, true);
    assertNoPaths(e, [m.home]);

    const w = await failure(m.env().run(m.acts.wrapped, { runDir: 'runs/p/r1' }));
    assert.ok((w.cause as Error).message.includes("'runs/p/r1/model.json'"), (w.cause as Error).message);
    assertNoPaths(w, [m.home, projectRoot() + '/']);
  });
});
