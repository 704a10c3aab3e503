/**
 * `funnelcast run` as an operator runs it: real processes of the built CLI, each with the embedded Temporal dev server
 * of its home (no TEMPORAL_ADDRESS, no harness clean-up). Proves that a SIGKILLed run leaves no server behind and
 * its rerun finishes with the same artifacts, that two runs in one home both finish, that another home's server on
 * the port is refused instead of executing this home's work, and that SIGINT/SIGTERM exit with the cancelled code.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { projectRoot } from '../../infra/root';
import { portAnswers } from '../../infra/temporal';
import type { RunSummary } from '../../workflows/types';
import { tempDir } from '../helpers/warehouse';

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A port whose Web UI neighbour (port + 1000) is free too. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    if (port < 64000 && !(await portAnswers('127.0.0.1', port + 1000))) return port;
  }
}

function pipelineFile(dir: string, name: string, patch: (d: Record<string, any>) => void = () => undefined): string {
  const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
  def.name = name;
  def.sources.events.path = join(projectRoot(), 'data', 'sample', 'events.csv.gz');
  def.cv = { strategy: 'none' };
  def.model.forest.nTrees = 40;
  patch(def);
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(def));
  return file;
}

interface Cli {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | string>;
}

/** The built `funnelcast` command in its own process, with its own home and port. */
function cli(args: string[], home: string, port: number): Cli {
  const env: NodeJS.ProcessEnv = { ...process.env, FUNNELCAST_HOME: home, FUNNELCAST_TEMPORAL_PORT: String(port) };
  // NODE_TEST_CONTEXT would make the child report to this test runner instead of being a plain command.
  for (const k of ['TEMPORAL_ADDRESS', 'FUNNELCAST_FAULTS', 'FUNNELCAST_TASK_QUEUE', 'NODE_TEST_CONTEXT'])
    delete env[k];
  const child = spawn(process.execPath, [join(projectRoot(), 'bin', 'funnelcast.js'), ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | string>((r) => child.once('exit', (code, signal) => r(code ?? signal ?? -1)));
  return { child, out: () => out, err: () => err, exit };
}

async function until(what: string, timeoutMs: number, probe: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

async function finished(c: Cli, timeoutMs = 400_000): Promise<RunSummary> {
  const timer = setTimeout(() => c.child.kill('SIGKILL'), timeoutMs);
  const code = await c.exit;
  clearTimeout(timer);
  assert.equal(code, 0, `exit ${code}\n${c.err()}`);
  try {
    return JSON.parse(c.out()) as RunSummary;
  } catch {
    throw new Error(`stdout is not one JSON object:\n${c.out().slice(0, 2000)}`);
  }
}

/** The server of a home is gone: its port does not answer within the time a guard needs to notice and stop it. */
async function serverGone(port: number): Promise<void> {
  await until(`nothing to answer on port ${port}`, 20_000, async () => !(await portAnswers('127.0.0.1', port)));
}

/** The CLI's progress line while models train: the CV folds' step (the holdout trains beside them) or train. */
const TRAINING = /… (cross-validate|train)\b/;

describe('the funnelcast CLI as separate processes (real embedded Temporal + DuckDB)', { timeout: 1_200_000 }, () => {
  const dir = tempDir('fc-cli-');

  it('SIGKILL of `funnelcast run` takes its Temporal server with it; the rerun finishes with identical artifacts', async () => {
    const file = pipelineFile(dir, 'sigkill', (d) => (d.model.forest.nTrees = 300));
    const [home, port] = [tempDir('fc-sigkill-home-'), await freePort()];
    const args = ['run', '--pipeline', file, '--cutoff', '2024-04-30', '--json'];
    const first = cli(['run', '--pipeline', file, '--cutoff', '2024-04-30'], home, port);
    // Training: the holdout models train beside the CV folds (a fixed engine), so the folds' step is training too.
    await until('the run to reach training', 300_000, () => TRAINING.test(first.err()));
    first.child.kill('SIGKILL');
    await first.exit;
    await serverGone(port);

    const t0 = Date.now();
    const rerun = await finished(cli(args, home, port));
    assert.ok(Date.now() - t0 < 300_000, 'the rerun does not hang');
    await serverGone(port);

    // The same pipeline and cutoff, never interrupted, in a fresh home.
    const [home2, port2] = [tempDir('fc-sigkill-ref-'), await freePort()];
    const ref = await finished(cli(args, home2, port2));
    assert.equal(rerun.runId, ref.runId);
    for (const k of ['read', 'loaded', 'quarantined', 'events'] as const)
      assert.equal(rerun.extract[k], ref.extract[k], k);
    assert.equal(
      sha(join(rerun.runDir, 'models', 'forest-holdout.model.json')),
      sha(join(ref.runDir, 'models', 'forest-holdout.model.json')),
    );
    assert.ok(rerun.exports.length > 0);
    for (const [i, e] of rerun.exports.entries()) assert.equal(sha(e.csvPath), sha(ref.exports[i].csvPath), e.campaign);
    await serverGone(port2);
  });

  it('two runs in one home at once both finish; the one that started the server ends first, the last one stops it', async () => {
    const light = pipelineFile(dir, 'light');
    const heavy = pipelineFile(dir, 'heavy', (d) => {
      d.model.forest.nTrees = 300;
      d.cv = { strategy: 'kfold', folds: 3 };
    });
    const [home, port] = [tempDir('fc-twohome-'), await freePort()];
    // The light run starts the server; the heavy one joins it and is still training when the light one ends.
    const a = cli(['run', '--pipeline', light, '--json'], home, port);
    await until('the server of the first run', 120_000, () => portAnswers('127.0.0.1', port));
    const b = cli(['run', '--pipeline', heavy, '--json'], home, port);
    const sa = await finished(a);
    assert.ok(b.child.exitCode === null, 'the heavy run was still going when the light one ended');
    const sb = await finished(b);
    assert.equal(sa.pipeline, 'light');
    assert.equal(sb.pipeline, 'heavy');
    for (const s of [sa, sb]) assert.ok(s.runDir.startsWith(home) && s.publish && s.exports.length > 0);
    await serverGone(port);
  });

  it('a run of another home on the same port is refused at once and none of its work runs in the first home', async () => {
    const file = pipelineFile(dir, 'owner');
    const other = pipelineFile(dir, 'intruder');
    const [home, port] = [tempDir('fc-owner-'), await freePort()];
    const homeB = tempDir('fc-intruder-');
    const a = cli(['run', '--pipeline', file, '--json'], home, port);
    await until('the first home to have its server', 120_000, () => portAnswers('127.0.0.1', port));
    const t0 = Date.now();
    const b = cli(['run', '--pipeline', other], homeB, port);
    const code = await b.exit;
    assert.equal(code, 1, b.err());
    assert.ok(Date.now() - t0 < 30_000);
    assert.match(
      b.err(),
      new RegExp(`port ${port} is taken by the embedded Temporal server of another funnelcast home`),
    );
    assert.match(b.err(), new RegExp(home.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.match(b.err(), /FUNNELCAST_TEMPORAL_PORT/);
    const s = await finished(a);
    assert.equal(s.pipeline, 'owner');
    for (const h of [home, homeB])
      assert.ok(!existsSync(join(h, 'warehouse', 'intruder.duckdb')) && !existsSync(join(h, 'runs', 'intruder')));
    await serverGone(port);
  });

  it('SIGINT and SIGTERM of `funnelcast run` exit with the cancelled code and a clean message; the run resumes', async () => {
    const file = pipelineFile(dir, 'interrupted', (d) => (d.model.forest.nTrees = 200));
    const [home, port] = [tempDir('fc-interrupt-'), await freePort()];
    const args = ['run', '--pipeline', file, '--cutoff', '2024-04-30'];
    // SIGINT during training; SIGTERM as soon as the resumed run reports progress.
    for (const [signal, step] of [
      ['SIGINT', TRAINING],
      ['SIGTERM', /… (?!planning)\S/],
    ] as const) {
      const c = cli(args, home, port);
      await until(`the run to reach ${step}`, 300_000, () => step.test(c.err()));
      c.child.kill(signal);
      assert.equal(await c.exit, 5, c.err());
      assert.match(
        c.err(),
        new RegExp(`funnelcast: interrupted by ${signal}: run \\S+ (\\(still planning\\) )?stopped here`),
      );
      assert.doesNotMatch(c.err(), /Promise did not resolve|Channel has been shut down|\n\s+at /);
      await serverGone(port);
    }
    const s = await finished(cli([...args, '--json'], home, port));
    assert.ok(s.publish && s.exports.length > 0);
    await serverGone(port);
  });
});
