/**
 * Definitions are checked against their data before any work: every event type the definition names (label
 * event, funnel stages, churn events, campaign filter events) must be a declared event type, or, without
 * declared types, occur in the loaded data. The error names the field and lists the known types.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { extractSources } from '../../../activities/extract';
import { BUNDLED_PIPELINES_DIR, loadPipeline, parsePipeline, PipelineDefinitionError } from '../../../pipelines/load';
import type { PipelineInput } from '../../../pipelines/schema';
import { withDuckDB } from '../../../warehouse/db';
import { extractPipeline } from '../../../warehouse/extract';
import { useTempHome } from '../../helpers/temporal';
import { inlinePipeline, scalar, tempDir } from '../../helpers/warehouse';
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { projectRoot } from '../../../infra/root';

const declared: PipelineInput = {
  name: 'refs',
  sources: {
    events: {
      path: 'events.csv',
      columns: { user_id: 'uid', ts: 'time', event: 'type' },
      eventTypes: ['view', 'addtocart', 'transaction'],
    },
  },
  label: { event: 'transaction', horizon: '7d' },
  features: { funnel: ['view', 'addtocart', 'transaction'] },
};

const issuesOf = (def: PipelineInput): string[] => {
  try {
    parsePipeline(def, 'refs.json');
  } catch (e) {
    if (e instanceof PipelineDefinitionError) return e.issues;
    throw e;
  }
  return [];
};

describe('event types named by the definition', () => {
  it('must be declared event types: the error names the field and lists the declared types', () => {
    assert.deepEqual(issuesOf(declared), []);
    const known = '"view", "addtocart", "transaction"';
    assert.deepEqual(issuesOf({ ...declared, label: { event: 'purchase' } }), [
      `label.event: "purchase" is not a known event type (sources.events.eventTypes declares: ${known})`,
    ]);
    assert.deepEqual(issuesOf({ ...declared, features: { funnel: ['view', 'add_to_cart', 'transaction'] } }), [
      `features.funnel.1: "add_to_cart" is not a known event type (sources.events.eventTypes declares: ${known})`,
    ]);
    assert.deepEqual(
      issuesOf({
        ...declared,
        churn: { customersOf: 'purchase', activeEvent: 'visit' },
        campaigns: [
          {
            name: 'c',
            filter: {
              all: [
                { field: 'propensity', op: 'gte', value: 0.5 },
                { not: { event: 'cart', within: '7d', did: true } },
              ],
            },
          },
        ],
      }).map((i) => i.split(':')[0]),
      ['churn.customersOf', 'churn.activeEvent', 'campaigns.0.filter.all.1.not.event'],
    );
  });

  it('every bundled pipeline passes the check', () => {
    for (const f of readdirSync(BUNDLED_PIPELINES_DIR).filter((x) => x.endsWith('.json')))
      assert.doesNotThrow(() => loadPipeline(join(BUNDLED_PIPELINES_DIR, f)), f);
  });

  it('without declared types, must occur in the loaded data: checked right after extract, before features', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'events.csv'),
      'uid,time,type\nu1,2024-01-01T10:00:00Z,view\nu1,2024-01-02T10:00:00Z,addtocart\nu2,2024-01-02T10:00:00Z,transaction\n',
    );
    const open = (over: Partial<PipelineInput>) =>
      inlinePipeline(
        {
          ...declared,
          sources: { events: { path: 'events.csv', columns: { user_id: 'uid', ts: 'time', event: 'type' } } },
          ...over,
        },
        dir,
      );
    await withDuckDB(':memory:', async (conn) => {
      await extractPipeline(conn, open({}));
      await assert.rejects(
        extractPipeline(conn, open({ features: { funnel: ['view', 'add_to_cart', 'transaction'] } })),
        (e: Error) =>
          e.name === 'InputError' &&
          e.message.includes(
            'features.funnel.1: "add_to_cart" is not a known event type (the loaded events have: "addtocart", "transaction", "view")',
          ),
      );
      assert.equal(await scalar(conn, `SELECT count(*) FROM events`), 3, 'the data itself stays loaded');
    });
    // Through the activity: a non-retryable InputError, so the run stops at once with exit code 3.
    useTempHome('fc-refs-');
    const env = new MockActivityEnvironment();
    await assert.rejects(
      env.run(extractSources, { loaded: open({ label: { event: 'purchase', horizon: '7d' } }) }),
      (e: unknown) =>
        e instanceof ApplicationFailure &&
        e.nonRetryable &&
        e.type === 'InputError' &&
        e.message.includes('label.event: "purchase" is not a known event type'),
    );
  });

  it('the command line exits with code 3 and names the field, before touching the warehouse when types are declared', () => {
    const home = tempDir('fc-refs-cli-');
    const dir = tempDir();
    writeFileSync(join(dir, 'events.csv'), 'uid,time,type\nu1,2024-01-01T10:00:00Z,view\n');
    const file = join(dir, 'refs.json');
    const cli = (def: PipelineInput) => {
      writeFileSync(file, JSON.stringify(def));
      return spawnSync(process.execPath, [join(projectRoot(), 'dist', 'client.js'), 'extract', '--pipeline', file], {
        env: { ...process.env, FUNNELCAST_HOME: home },
        encoding: 'utf8',
      });
    };
    const declaredRun = cli({ ...declared, label: { event: 'purchase' } });
    assert.equal(declaredRun.status, 3, declaredRun.stderr);
    assert.match(declaredRun.stderr, /label\.event: "purchase" is not a known event type/);
    assert.ok(!existsSync(join(home, 'warehouse', 'refs.duckdb')), 'no work was done');
    const undeclared = cli({
      ...declared,
      sources: { events: { path: 'events.csv', columns: { user_id: 'uid', ts: 'time', event: 'type' } } },
      features: { funnel: ['view', 'cart'] },
    });
    assert.equal(undeclared.status, 3, undeclared.stderr);
    assert.match(
      undeclared.stderr,
      /features\.funnel\.1: "cart" is not a known event type \(the loaded events have: "view"\)/,
    );
  });
});
