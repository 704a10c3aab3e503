/**
 * Issue 24, `funnelcast serve`: a real run on a real Temporal dev server makes a champion, and the service answers
 * from it. Online scores (warehouse history + recent events sent in the request) agree with the batch path to
 * 1e-9 for 1,000 users; bad input is a 4xx naming the field and a seeded fuzz of thousands of bodies never gets a
 * 500 nor stops the service; a second live run moves the champion while requests flow, and no request fails or
 * mixes the two versions.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { NativeConnection } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DuckDBInstance } from '@duckdb/node-api';
import { createWorker, type FunnelcastWorker } from '../../worker';
import { projectRoot } from '../../infra/root';
import { paths } from '../../infra/paths';
import { loadPipeline } from '../../pipelines/load';
import { buildFeatures } from '../../warehouse/features';
import { readFeatureTable } from '../../warehouse/matrix';
import { loadScorer } from '../../ml/scorer';
import { ModelRegistry } from '../../registry';
import { createScoringService, type ScoringService } from '../../serve/app';
import { reasonWords } from '../../serve/scoring';
import type { RunSummary } from '../../workflows/types';
import { startTestServer, uniqueQueue, until, useTempHome } from '../helpers/temporal';
import { fuzzBodies } from '../helpers/fuzz';
import { forPeople } from '../../cli/edge';

const TOKEN = 'test-token-24';
const LATER = '2024-05-15T00:00:00.000Z';

function pipelineFile(): string {
  const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
  def.name = 'serve_sample';
  def.sources.events.path = join(projectRoot(), 'data', 'sample', 'events.csv.gz');
  def.model.forest = { nTrees: 30, maxDepth: 8, minSamplesLeaf: 5 };
  // Any later live model replaces the champion: the switch test needs the pointer to move.
  def.registry = { primaryMetric: 'roc_auc', tolerance: 1, replaceIncomparable: true };
  // The switch test's second run trains ten days later: drift is the drift test's subject, not this one's.
  def.drift = { accept: true };
  delete def.export;
  const file = join(mkdtempSync(join(tmpdir(), 'fc-serve-')), 'serve_sample.json');
  writeFileSync(file, JSON.stringify(def));
  return file;
}

describe('funnelcast serve on a real champion (real Temporal + DuckDB)', { timeout: 900_000 }, () => {
  let env: TestWorkflowEnvironment;
  let worker: FunnelcastWorker;
  let connection: NativeConnection;
  let running: Promise<void>;
  let service: ScoringService;
  let base: string;
  let file: string;
  let first: RunSummary;
  const taskQueue = uniqueQueue('serve');
  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

  before(async () => {
    useTempHome();
    file = pipelineFile();
    env = await startTestServer();
    connection = await NativeConnection.connect({ address: env.address });
    worker = await createWorker({ connection, taskQueue });
    running = worker.run();
    first = await env.client.workflow.execute('retrainWorkflow', {
      taskQueue,
      workflowId: `test-serve-${Date.now()}`,
      args: [{ pipeline: file, trigger: 'test' }],
    }).then(forPeople);
    service = await createScoringService({ loaded: loadPipeline(file), token: TOKEN, pollMs: 200 });
    await service.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(service.app.server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await service?.close();
    worker?.shutdown();
    await running;
    await connection?.close();
    await env?.teardown();
  });

  it('needs the bearer token on /v1 and is ready with the champion', async () => {
    assert.equal((await fetch(`${base}/v1/users/u000007/score`)).status, 401);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = (await (await fetch(`${base}/readyz`)).json()) as { modelVersion: string };
    assert.equal(ready.modelVersion, first.publish!.version);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, new RegExp(`funnelcast_model_info\\{version="${first.publish!.version}"`));
    assert.match(metrics, /funnelcast_http_request_duration_seconds_bucket/);
    // The process's own pauses and delays, to tell a latency tail from waiting for a core (the serve bench reads them).
    assert.match(metrics, /^nodejs_gc_duration_seconds_bucket\{le="0.001",kind="\w+"\} \d+/m);
    assert.match(metrics, /^nodejs_eventloop_lag_p99_seconds \d/m);
  });

  it('GET score answers the batch lists: propensity, decile, segment, reasons in words', async () => {
    const r = await fetch(`${base}/v1/users/u000007/score`, { headers: auth });
    assert.equal(r.status, 200);
    const body = (await r.json()) as { propensity: number; decile: number; reasons: string[]; modelVersion: string };
    const seg = await querySegments(first, `SELECT propensity, propensity_decile FROM s WHERE user_id = 'u000007'`);
    assert.equal(body.propensity, Number(seg[0][0]));
    assert.equal(body.decile, Number(seg[0][1]));
    assert.equal(body.reasons.length, 3);
    const missing = await fetch(`${base}/v1/users/nobody/score`, { headers: auth });
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { field: string }).field, 'id');
  });

  it('online scores (history + recent events) agree with batch scores to 1e-9 for 1,000 users', async () => {
    const { batch, recent } = await batchAt(first, file, LATER);
    const users = [...batch.keys()].sort((a, b) => (recent.get(b)?.length ?? 0) - (recent.get(a)?.length ?? 0));
    const chosen = users.slice(0, 1000);
    assert.equal(chosen.length, 1000);
    assert.ok(chosen.filter((u) => recent.has(u)).length > 200, 'many of the users send recent events');
    let worst = 0;
    let worded = 0;
    const def = loadPipeline(file).definition;
    for (let s = 0; s < chosen.length; s += 50) {
      const part = chosen.slice(s, s + 50);
      const got = await Promise.all(
        part.map(async (u) => {
          const res = await fetch(`${base}/v1/score`, {
            method: 'POST',
            headers: auth,
            body: JSON.stringify({ userId: u, asOf: LATER, events: recent.get(u) ?? [] }),
          });
          assert.equal(res.status, 200, await res.clone().text());
          const body = (await res.json()) as OnlineBody;
          worded += checkReasons(body, def) ? 1 : 0;
          return body.propensity;
        }),
      );
      part.forEach((u, i) => (worst = Math.max(worst, Math.abs(got[i] - batch.get(u)!))));
    }
    assert.ok(worst <= 1e-9, `largest online − batch difference ${worst}`);
    assert.ok(worded > 900, `${worded} of 1,000 POST answers gave their top-3 reasons in words`);
  });

  it('bad input is a 4xx naming the field, never a 500', async () => {
    const post = (body: string) => fetch(`${base}/v1/score`, { method: 'POST', headers: auth, body });
    const cases: [string, number, string][] = [
      ['{"userId":', 400, 'body'],
      ['{"userId":"u000007","events":[{"ts":"2024-05-02T00:00:00Z","event":"teleport"}]}', 400, 'events[0].event'],
      ['{"userId":"u000007","events":[{"ts":"2999-01-01T00:00:00Z","event":"view"}]}', 400, 'events[0].ts'],
      ['{"userId":"u000007","events":[{"ts":"2024-01-02T00:00:00Z","event":"view"}]}', 400, 'events[0].ts'],
      ['{"userId":"u000007","events":[{"ts":"yesterday","event":"view"}]}', 400, 'events[0].ts'],
      ['{"userId":"u000007","colour":"red"}', 400, 'body/colour'],
      ['{"userId":7}', 400, 'body/userId'],
      ['{"userId":"ghost","events":[]}', 404, 'userId'],
      [JSON.stringify({ userId: 'u000007', events: [], pad: 'x'.repeat(2_000_000) }), 413, 'body'],
    ];
    for (const [body, status, field] of cases) {
      const r = await post(body);
      const j = (await r.json()) as { field: string; message: string };
      assert.equal(r.status, status, `${body.slice(0, 80)} → ${r.status} ${j.message}`);
      assert.equal(j.field, field, j.message);
    }
  });

  it('a seeded fuzz of 3,000 random bodies gets no 500 and the service stays up', async () => {
    const counts = new Map<number, number>();
    for (const { path, body, contentType } of fuzzBodies(3000, 24)) {
      const r = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { ...auth, 'content-type': contentType },
        body,
      });
      await r.arrayBuffer();
      counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    }
    assert.ok(![...counts.keys()].some((s) => s >= 500), `statuses ${JSON.stringify([...counts])}`);
    assert.ok((counts.get(400) ?? 0) > 1000, `statuses ${JSON.stringify([...counts])}`);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/v1/users/u000007/score`, { headers: auth })).status, 200);
  });

  it('switches atomically when a new live run moves the champion: no failed or mixed request', async () => {
    const v1 = first.publish!.version;
    const seen: { status: number; version: string; propensity: number; cutoff: string; kind: string }[] = [];
    let stop = false;
    const load = (async () => {
      while (!stop) {
        const [g, p] = await Promise.all([
          fetch(`${base}/v1/users/u000007/score`, { headers: auth }),
          fetch(`${base}/v1/score`, {
            method: 'POST',
            headers: auth,
            body: JSON.stringify({ userId: 'u000007', events: [{ ts: '2024-05-20T10:00:00Z', event: 'view' }] }),
          }),
        ]);
        for (const [kind, r] of [
          ['get', g],
          ['post', p],
        ] as const) {
          const j = (await r.json()) as { modelVersion: string; propensity: number; cutoff: string };
          seen.push({ status: r.status, version: j.modelVersion, propensity: j.propensity, cutoff: j.cutoff, kind });
        }
      }
    })();
    const second = (await env.client.workflow.execute('retrainWorkflow', {
      taskQueue,
      workflowId: `test-serve-2-${Date.now()}`,
      args: [{ pipeline: file, trigger: 'test', cutoff: '2024-05-10T00:00:00Z' }],
    }).then(forPeople)) as RunSummary;
    const v2 = second.publish!.version;
    assert.equal(new ModelRegistry(paths.registry('serve_sample')).champion()?.version, v2);
    await until('the service to switch', 30_000, () => (service.holder.switches > 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await load;
    assert.ok(
      seen.every((s) => s.status === 200),
      `failed: ${JSON.stringify(seen.find((s) => s.status !== 200))}`,
    );
    const expected = new Map<string, number>();
    for (const run of [first, second])
      expected.set(
        run.publish!.version,
        Number((await querySegments(run, `SELECT propensity FROM s WHERE user_id = 'u000007'`))[0][0]),
      );
    const cutoffOf = new Map([
      [v1, first.cutoff],
      [v2, second.cutoff],
    ]);
    for (const s of seen) {
      assert.ok(cutoffOf.has(s.version), `unknown version ${s.version}`);
      assert.equal(s.cutoff, cutoffOf.get(s.version), 'a response mixed one version with another cutoff');
      if (s.kind === 'get') assert.equal(s.propensity, expected.get(s.version), 'a GET mixed versions');
    }
    const versions = seen.map((s) => s.version);
    assert.ok(versions.includes(v1) && versions.includes(v2), 'requests were answered before and after the switch');
    assert.equal(versions.lastIndexOf(v1) < versions.length - 1, true);
  });
});

interface OnlineBody {
  propensity: number;
  reasons: string[];
  reasonFeatures: { feature: string; value: number }[];
  features: Record<string, number>;
}

/**
 * POST gives its reasons in words like GET and the lists: each one the dictionary's phrase of the model's reason
 * with the user's value (never a bare feature name). True when the user has three reasons.
 */
function checkReasons(body: OnlineBody, def: ReturnType<typeof loadPipeline>['definition']): boolean {
  assert.equal(body.reasons.length, body.reasonFeatures.filter((r) => r.feature).length);
  body.reasons.forEach((words, k) => {
    const f = body.reasonFeatures[k].feature;
    assert.equal(typeof words, 'string');
    assert.notEqual(words, f, `reason ${f} is not in words`);
    assert.equal(words, reasonWords(def, f, body.features));
  });
  return body.reasons.length === 3;
}

async function querySegments(run: RunSummary, sql: string) {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    await c.run(`CREATE VIEW s AS SELECT * FROM read_parquet('${join(run.runDir, 'segments.parquet')}')`);
    return (await c.runAndReadAll(sql)).getRows();
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

/**
 * Batch scores at `at` (buildFeatures over the whole warehouse, scored with the run's version like the score step)
 * and each user's warehouse events in [the run's cutoff, at), which the online requests send as recent events.
 */
async function batchAt(run: RunSummary, file: string, at: string) {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    await c.run(`ATTACH '${paths.warehouse('serve_sample')}' AS wh (READ_ONLY)`);
    await c.run(`CREATE TABLE events AS SELECT * FROM wh.events`);
    await c.run(`DETACH wh`);
    const f = await buildFeatures(c, loadPipeline(file).definition, {
      cutoff: new Date(at),
      outDir: mkdtempSync(join(tmpdir(), 'fc-batch-')),
    });
    const t = await readFeatureTable(c, f.featuresPath, { idColumn: 'user_id', exclude: ['label'] });
    const serialized = JSON.parse(readFileSync(join(run.publish!.versionDir, 'model.json'), 'utf8'));
    assert.deepEqual(t.x.names, serialized.featureNames, "the batch features are the model's");
    const model = await loadScorer(serialized);
    const p = model.predict({ x: t.x, ids: t.ids });
    const batch = new Map(t.ids.map((id, i) => [id, p[i]]));
    const rows = (
      await c.runAndReadAll(
        `SELECT user_id, strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ'), event, item_id, revenue, session_id FROM events
         WHERE ts >= CAST($a AS TIMESTAMP) AND ts < CAST($b AS TIMESTAMP) ORDER BY user_id, ts`,
        { a: run.cutoff, b: at },
      )
    ).getRows();
    const recent = new Map<string, object[]>();
    for (const [u, ts, event, itemId, revenue, sessionId] of rows) {
      const list = recent.get(String(u)) ?? [];
      list.push({ ts, event, itemId, revenue: revenue == null ? null : Number(revenue), sessionId });
      recent.set(String(u), list);
    }
    return { batch, recent };
  } finally {
    c.closeSync();
    db.closeSync();
  }
}
