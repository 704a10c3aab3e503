/**
 * Issue 19: Temporal payloads carry store keys, never machine-local paths, on the local store as on the S3 store.
 * The sample pipeline runs through `funnelcast run --json` (the CLI's planning workflow and the run it starts as a
 * child) against a real dev server and a real worker; then every workflow on the server is fetched whole, every
 * payload decoded, and every string in them checked: none may be an absolute path, or name the worker's home or
 * cache. The CLI prints absolute paths for people (`--json`), resolved from the keys at the edge.
 * The same for the common case of a user's own definition (`--pipeline ./my.json` in a project folder, outside the
 * home and the package, sources named relative to it) with the registry and the exports moved out of the home
 * (FUNNELCAST_REGISTRY, FUNNELCAST_EXPORT_ROOT): the definition travels by content (`definitions/<sha256>.json`),
 * its folder and the moved folders as keys of named roots (store/boundary.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { isAbsolute, join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import { runCommand } from '../../cli/run';
import { projectRoot } from '../../infra/root';
import type { ObjectServer } from '../../store/versitygw';
import { createWorker } from '../../worker';
import { runCli } from '../helpers/cli';
import { startTestObjectServer } from '../helpers/object-store';
import { startTestServer } from '../helpers/temporal';
import { payloadStrings } from '../helpers/payloads';

describe('payloads carry keys, never machine-local paths', { timeout: 1_200_000 }, () => {
  let env: TestWorkflowEnvironment;
  let s3: ObjectServer | null = null;
  const saved = { ...process.env };

  before(async () => {
    env = await startTestServer();
    process.env.TEMPORAL_ADDRESS = env.address;
  });

  after(async () => {
    process.env = saved;
    await s3?.stop();
    await env?.teardown();
  });

  /** Runs `funnelcast run --json` with a worker of a fresh home (and cache) in this process; returns the printed run. */
  async function runSample(
    storeEnv: Record<string, string>,
    argv: string[] = [],
  ): Promise<{ home: string; cache: string; out: Json }> {
    const home = mkdtempSync(join(tmpdir(), 'fc-payload-home-'));
    const cache = mkdtempSync(join(tmpdir(), 'fc-payload-cache-'));
    delete process.env.FUNNELCAST_STORE;
    Object.assign(process.env, storeEnv, { FUNNELCAST_HOME: home, FUNNELCAST_CACHE: cache });
    const connection = await NativeConnection.connect({ address: env.address });
    try {
      const worker = await createWorker({ connection });
      const { code, out } = await worker.runUntil(
        runCli(runCommand, ['--json', '--no-worker', '--accept-drift', ...argv]),
      );
      assert.equal(code, 0, out);
      return { home, cache, out: JSON.parse(out) as Json };
    } finally {
      await connection.close();
    }
  }

  /** Every string in every payload of every workflow on the server (the plan, the run, their children). */
  async function everyPayloadString(skip = new Set<string>()): Promise<{ workflowId: string; value: string }[]> {
    const found: { workflowId: string; value: string }[] = [];
    for await (const wf of env.client.workflow.list()) {
      if (skip.has(`${wf.workflowId}/${wf.runId}`)) continue;
      const history = await env.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      for (const value of payloadStrings(history.events ?? [])) found.push({ workflowId: wf.workflowId, value });
    }
    return found;
  }

  function assertNoLocalPaths(strings: { workflowId: string; value: string }[], dirs: string[]): void {
    const bad = strings.filter(
      ({ value }) => isAbsolute(value) || /^[A-Za-z]:\\/.test(value) || dirs.some((d) => value.includes(d)),
    );
    assert.deepEqual(
      [...new Set(bad.map((b) => `${b.workflowId}: ${b.value.slice(0, 300)}`))].slice(0, 40),
      [],
      `${bad.length} payload strings name machine-local paths`,
    );
  }

  it('on the local store: keys in every payload; the CLI prints absolute paths resolved from them', async () => {
    const { home, cache, out } = await runSample({});
    const strings = await everyPayloadString();
    assertNoLocalPaths(strings, [home, cache, projectRoot()]);
    assert.ok(
      strings.some((s) => s.value.startsWith('runs/sample/')),
      'payloads decoded, keys found',
    );
    // The edge: --json prints absolute paths, of files that exist on this machine.
    const scores = (out.scoring as Json).scoresPath as string;
    assert.ok(scores.startsWith(join(home, 'runs', 'sample')) && existsSync(scores), scores);
    assert.ok(existsSync(out.reportPath as string), String(out.reportPath));
  });

  it('on the S3 store: keys in every payload', async () => {
    s3 = await startTestObjectServer('payloads');
    const { home, cache } = await runSample(s3.env('payloads'));
    assertNoLocalPaths(await everyPayloadString(), [home, cache, projectRoot()]);
  });

  /**
   * A user's project outside the home and the package: my.json beside its events (named relatively), under the
   * data root; the registry and the export folder outside the home too. Returns the folders and the settings.
   */
  function userProject(): { dirs: string[]; env: Record<string, string>; file: string } {
    const [data, registry, exports] = ['data', 'registry', 'exports'].map((n) =>
      mkdtempSync(join(tmpdir(), `fc-payload-${n}-`)),
    );
    const dir = join(data!, 'shop');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(projectRoot(), 'data', 'sample', 'events.csv.gz'), join(dir, 'events.csv.gz'));
    const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8')) as Json & {
      sources: { events: Json };
      export: Json;
    };
    def.name = 'shop';
    def.sources.events.path = 'events.csv.gz';
    delete def.sources.events.live;
    def.export.destination = 'crm';
    const file = join(dir, 'my.json');
    writeFileSync(file, JSON.stringify(def, null, 2));
    const env = { FUNNELCAST_DATA_ROOT: data!, FUNNELCAST_REGISTRY: registry!, FUNNELCAST_EXPORT_ROOT: exports! };
    return { dirs: [data!, registry!, exports!], env, file };
  }

  for (const store of ['local', 'S3'] as const)
    it(`a definition outside the home, registry and exports outside it (${store} store): keys in every payload`, async () => {
      const earlier = new Set(await executions()); // the runs of the tests before: checked there
      const p = userProject();
      s3 ??= store === 'S3' ? await startTestObjectServer('payloads') : null;
      const { home, cache, out } = await runSample({ ...(store === 'S3' ? s3!.env('payloads') : {}), ...p.env }, [
        '--pipeline',
        p.file,
      ]);
      const strings = await everyPayloadString(earlier);
      assertNoLocalPaths(strings, [home, cache, projectRoot(), ...p.dirs]);
      const hash = sha256(readFileSync(p.file));
      assert.ok(
        strings.some((s) => s.value === `definitions/${hash}.json`),
        'the definition travels by content',
      );
      assert.ok(
        strings.some((s) => s.value === 'data/shop'),
        'its sources folder as a key of the data root',
      );
      // What was written went to the moved folders (resolved by each worker under its own setting).
      const [, registry, exports] = p.dirs;
      assert.ok(readdirSync(join(registry!, 'shop')).length > 0, 'the registry is in FUNNELCAST_REGISTRY');
      assert.ok(readdirSync(join(exports!, 'crm')).length > 0, 'the lists are in FUNNELCAST_EXPORT_ROOT');
      assert.ok(existsSync(out.reportPath as string) || store === 'S3', String(out.reportPath));
    });

  async function executions(): Promise<string[]> {
    const ids: string[] = [];
    for await (const wf of env.client.workflow.list()) ids.push(`${wf.workflowId}/${wf.runId}`);
    return ids;
  }
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

type Json = Record<string, unknown>;
