/**
 * The README's commands as an operator types them, read from the README itself: `npx funnelcast run`, then the
 * operator guide's `up &`, `schedule create`, `schedule list`, `schedule trigger` and `schedule describe`, each a
 * process of the built CLI with the home's embedded Temporal server (real server, real DuckDB, no harness).
 *
 * The trigger is a scheduled run of the bundled sample at today's date: its live feed (data/live.ts) appends the
 * days since 2024-05-31, the run trains where outcomes are observed and says so, and it ends with a model, lists and
 * a report. The champion was trained by `run` at the sample's 2024 cutoff, more than two years before: drift
 * against it is reported, not blocking (workflows/run/drift.ts), so the scheduled run publishes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { projectRoot } from '../../infra/root';
import { portAnswers } from '../../infra/temporal';
import { tempDir } from '../helpers/warehouse';
import { resolveIn } from '../../cli/edge';

/** The README's `npx funnelcast …` command lines (comments and a trailing `&` removed), in order. */
function readmeCommands(): string[][] {
  const readme = readFileSync(join(projectRoot(), 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]);
  return blocks
    .flatMap((b) => b.split('\n'))
    .flatMap((l) => [...l.matchAll(/npx funnelcast ([^#&]*)/g)].map((m) => m[1].trim()))
    .map((c) => c.split(/\s+/));
}

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

interface Cli {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | string>;
}

function cli(args: string[], home: string, port: number): Cli {
  const env: NodeJS.ProcessEnv = { ...process.env, FUNNELCAST_HOME: home, FUNNELCAST_TEMPORAL_PORT: String(port) };
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

/** Runs a command to its end; returns its exit code and output. */
async function done(c: Cli, timeoutMs = 600_000): Promise<{ code: number | string; out: string; err: string }> {
  const timer = setTimeout(() => c.child.kill('SIGKILL'), timeoutMs);
  const code = await c.exit;
  clearTimeout(timer);
  return { code, out: c.out(), err: c.err() };
}

describe("the README's operator commands on the bundled sample (real processes)", { timeout: 1_500_000 }, () => {
  it('run, up, schedule create, list, trigger (a live run today: model, lists, report), describe', async () => {
    const commands = readmeCommands();
    const find = (words: string, subs: Record<string, string> = {}) => {
      const c = commands.find((a) => a.join(' ').startsWith(words))?.map((w) => subs[w] ?? w);
      assert.ok(c, `the README has a "npx funnelcast ${words}" command`);
      assert.doesNotMatch(c.join(' '), /["'$<]/, `a README command this test runs as plain words: ${c.join(' ')}`);
      return c;
    };
    const [home, port] = [tempDir('fc-readme-home-'), await freePort()];
    const run = await done(cli(find('run'), home, port));
    assert.equal(run.code, 0, `funnelcast run: ${run.err}`);

    const up = cli(find('up'), home, port);
    try {
      const deadline = Date.now() + 120_000;
      while (!/funnelcast is up/.test(up.out() + up.err())) {
        assert.ok(Date.now() < deadline, `funnelcast up did not come up: ${up.err()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const created = await done(cli(find('schedule create'), home, port));
      assert.equal(created.code, 0, created.err);
      assert.match(created.out, /Created schedule retrain-sample \(every day at 00:00 UTC, overlap skip\)/);
      const listed = await done(cli(find('schedule list'), home, port));
      assert.match(listed.out, /retrain-sample\s+sample\s+every day at 00:00 UTC/);

      const today = new Date().toISOString().slice(0, 10).replace(/-/g, '');
      const t = await done(cli(find('schedule trigger'), home, port));
      assert.equal(t.code, 0, `${t.out}\n${t.err}`);
      assert.match(t.out, new RegExp(`run sample-${today}T\\d{6}Z-[0-9a-f]+ COMPLETED`));
      // The live feed stops at the last whole day: the run says where it trained and why.
      assert.match(t.out, /the data's last event is \S+, so outcomes are observed until \S+: the model trains at/);
      const runId = /run (sample-\S+) COMPLETED/.exec(t.out)![1];
      const summary = resolveIn(home)(JSON.parse(readFileSync(join(home, 'runs', 'sample', runId, 'run.json'), 'utf8')));
      assert.ok(summary.extract.loaded > 300_000, 'the live feed was appended and loaded');
      assert.ok(Date.parse(summary.extract.maxTs) > Date.now() - 2 * 86_400_000, summary.extract.maxTs);
      assert.ok(summary.model.holdout.roc_auc > 0.6, `the live data is learnable: ${summary.model.holdout.roc_auc}`);
      assert.ok(summary.scoring.users > 3000 && summary.exports.length > 0, 'every user scored, lists written');
      assert.ok(existsSync(summary.reportPath), 'the run wrote its report');
      assert.equal(summary.drift.level, 'warn', JSON.stringify(summary.drift));
      assert.match(
        summary.drift.message,
        /^not blocking: the champion was trained at 2024-03-31\S+, \d+ days from this run's/,
      );

      const described = await done(cli(find('schedule describe'), home, port));
      assert.equal(described.code, 0, described.err);
      assert.match(described.out, new RegExp(`→ ${runId} COMPLETED`));

      // The guide's next commands on what these two runs made (v0001 at the 2024 cutoff, v0002 live today).
      const ran = async (words: string, subs: Record<string, string> = {}) => {
        const r = await done(cli(find(words, subs), home, port));
        assert.equal(r.code, 0, `${words}: ${r.out}\n${r.err}`);
        return r.out;
      };
      assert.match(await ran('runs list'), new RegExp(runId));
      assert.match(await ran('status', { '<run>': runId }), new RegExp(runId));
      assert.match(await ran('models list'), /v0002/);
      assert.match(await ran('models show v0002'), /v0002/);
      // Trained 31 months apart: v0001 is re-scored on v0002's held-out rows, and both compared on them.
      const compared = await ran('models compare v0001 v0002');
      assert.match(compared, /Compared on the same \d+ held-out rows .*re-scored on v0002/);
      await ran('models rollback');
      assert.match(await ran('models history'), /rollback/);
    } finally {
      up.child.kill('SIGINT');
      await up.exit;
    }
  });
});
