/**
 * Issue 19: Temporal payloads carry store keys, never machine-local paths, on the local store as on the S3 store.
 * The sample pipeline runs through `funnelcast run --json` (the CLI's planning workflow and the run it starts as a
 * child) against a real dev server and a real worker; then every workflow on the server is fetched whole, every
 * payload decoded, and every string in them checked: none may be an absolute path, or name the worker's home or
 * cache. The CLI prints absolute paths for people (`--json`), resolved from the keys at the edge.
 * The same for the common case of a user's own definition (`--pipeline ./my.json` in a project folder, outside the
 * home and the package, sources named relative to it) with the registry and the exports moved out of the home
 * (FUNNELCAST_REGISTRY, FUNNELCAST_EXPORT_ROOT): the definition travels by content (`definitions/<sha256>.json`),
 * its folder and the moved folders as keys of named roots (store/boundary.ts). A schedule of such a definition pins
 * it by content, and `schedule update` re-pins an edited file.
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
import { scheduleCommand } from '../../cli/schedule';
import { writeEventsCsv } from '../../data/generator';
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

  /** Runs `fn` while a worker of a fresh home (and cache) runs in this process. */
  async function withWorker<T>(
    storeEnv: Record<string, string>,
    fn: () => Promise<T>,
  ): Promise<{ home: string; cache: string; value: T }> {
    const home = mkdtempSync(join(tmpdir(), 'fc-payload-home-'));
    const cache = mkdtempSync(join(tmpdir(), 'fc-payload-cache-'));
    delete process.env.FUNNELCAST_STORE;
    Object.assign(process.env, storeEnv, { FUNNELCAST_HOME: home, FUNNELCAST_CACHE: cache });
    const connection = await NativeConnection.connect({ address: env.address });
    try {
      const worker = await createWorker({ connection });
      return { home, cache, value: await worker.runUntil(fn()) };
    } finally {
      await connection.close();
    }
  }

  /** Runs `funnelcast run --json` with a worker of a fresh home (and cache) in this process; returns the printed run. */
  async function runSample(
    storeEnv: Record<string, string>,
    argv: string[] = [],
  ): Promise<{ home: string; cache: string; out: Json }> {
    const { home, cache, value } = await withWorker(storeEnv, () =>
      runCli(runCommand, ['--json', '--no-worker', '--accept-drift', ...argv]),
    );
    assert.equal(value.code, 0, value.out);
    return { home, cache, out: JSON.parse(value.out) as Json };
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

  /**
   * A schedule of a definition outside the home and the package (issue 19): its action names the definition by
   * content, pinned when the schedule is created, so a worker on any machine runs what the schedule was made with;
   * an edit is picked up by `schedule update`, which pins the new content. No payload, and not the schedule's own
   * action, names a path of the machine that made it.
   */
  it('a schedule pins the definition by content; schedule update re-pins an edited file (S3 store)', async () => {
    const earlier = new Set(await executions());
    s3 ??= await startTestObjectServer('payloads');
    const data = mkdtempSync(join(tmpdir(), 'fc-payload-sched-'));
    const dir = join(data, 'weekly');
    mkdirSync(dir, { recursive: true });
    const DAY = 86_400_000;
    const start = new Date(Math.floor(Date.now() / DAY) * DAY - 92 * DAY).toISOString();
    await writeEventsCsv(join(dir, 'events.csv'), { users: 1500, seed: 3, days: 80, engagement: 8, start });
    const def = (nTrees: number) => ({
      name: 'weekly',
      sources: { events: { path: 'events.csv', columns: COLUMNS } },
      label: { event: 'transaction', horizon: '30d' },
      model: { forest: { nTrees }, baselines: [] },
      cv: { strategy: 'none' },
    });
    const file = join(dir, 'weekly.json');
    writeFileSync(file, JSON.stringify(def(5)));
    const first = sha256(readFileSync(file));
    const schedule = (...argv: string[]) => runCli(scheduleCommand, argv);
    const pinned = async () =>
      JSON.stringify((await env.client.schedule.getHandle('retrain-weekly').describe()).action);

    const {
      home,
      cache,
      value: runs,
    } = await withWorker({ ...s3.env('payloads'), FUNNELCAST_DATA_ROOT: data }, async () => {
      assert.equal((await schedule('create', '--pipeline', file, '--every', '1d', '--paused')).code, 0);
      assert.ok((await pinned()).includes(`definitions/${first}.json`), await pinned());
      const a = await schedule('trigger', '--pipeline', file, '--json');
      assert.equal(a.code, 0, a.out);
      // Edited: the schedule still runs what it was made with, until `schedule update` pins the new bytes.
      writeFileSync(file, JSON.stringify(def(6)));
      assert.notEqual((await schedule('create', '--pipeline', file, '--every', '1d', '--paused')).code, 0);
      assert.ok((await pinned()).includes(`definitions/${first}.json`), 'an edit alone changes nothing');
      assert.equal((await schedule('update', '--pipeline', file, '--every', '1d')).code, 0);
      const b = await schedule('trigger', '--pipeline', file, '--json');
      assert.equal(b.code, 0, b.out);
      return [JSON.parse(a.out) as Json, JSON.parse(b.out) as Json];
    });
    const second = sha256(readFileSync(file));
    const action = await pinned();
    assert.ok(action.includes(`definitions/${second}.json`) && action.includes('"data/weekly"'), action);
    assert.equal(runs[0]!.outcome, 'COMPLETED');
    assert.equal(runs[1]!.outcome, 'COMPLETED');
    assert.notEqual(runs[0]!.runId, runs[1]!.runId, 'the re-pinned definition is another run');
    const strings = await everyPayloadString(earlier);
    assertNoLocalPaths([...strings, { workflowId: 'schedule action', value: action }], [home, cache, data, dir]);
    for (const hash of [first, second])
      assert.ok(
        strings.some((s) => s.value === `definitions/${hash}.json`),
        `a scheduled run read ${hash}`,
      );
  });

  async function executions(): Promise<string[]> {
    const ids: string[] = [];
    for await (const wf of env.client.workflow.list()) ids.push(`${wf.workflowId}/${wf.runId}`);
    return ids;
  }
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

type Json = Record<string, unknown>;

const COLUMNS = { user_id: 'user_id', ts: 'timestamp', event: 'event', item_id: 'item_id', revenue: 'revenue' };
