/**
 * The pipeline bench reads `funnelcast run --json`, which prints its summary indented over many lines: the bench
 * read only the last line ("}") and failed after the whole 1 M run (issue 17's headline was never written).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastJsonObject, loopDelay } from '../../../bench/suites/pipeline';

describe('pipeline bench: the run summary', () => {
  it('parses the indented summary `run --json` prints, after any other output', () => {
    const summary = { runId: 'bench_1m-20240430T000000Z-f59cf3d198', model: { holdout: { roc_auc: 0.94 } } };
    const out = `starting the worker…\n{ "not": "this" }\n${JSON.stringify(summary, null, 2)}\n`;
    assert.deepEqual(lastJsonObject(out), summary);
  });

  it('parses a one-line error, and gives null when nothing was printed', () => {
    assert.deepEqual(lastJsonObject('{"error":"extract failed"}\n'), { error: 'extract failed' });
    assert.equal(lastJsonObject('Error: cannot start the server\n'), null);
  });
});

describe('pipeline bench: the event-loop probe', () => {
  it('records how long the longest block of the main thread was and when it ended', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fc-probe-'));
    const probe = join(__dirname, '..', '..', '..', 'bench', 'loop-delay-probe.js');
    // Idle a little, then block the main thread for 400 ms, then let the timers see it before exiting.
    const script = `setTimeout(() => { const t = Date.now(); while (Date.now() - t < 400); setTimeout(() => {}, 200); }, 200);`;
    const before = Date.now();
    const r = spawnSync(process.execPath, ['--require', probe, '-e', script], {
      env: { ...process.env, FUNNELCAST_LOOP_DELAY_DIR: dir },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const [file] = readdirSync(dir);
    const d = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      maxMs: number;
      worstBlock: { ms: number; endedAt: string };
    };
    assert.ok(d.maxMs >= 350, `max delay ${d.maxMs} ms`);
    assert.ok(d.worstBlock.ms >= 300 && d.worstBlock.ms <= d.maxMs + 60, `longest block ${d.worstBlock.ms} ms`);
    const ended = Date.parse(d.worstBlock.endedAt);
    assert.ok(ended >= before + 550 && ended <= Date.now(), `ended at ${d.worstBlock.endedAt}`);
  });
});

describe('pipeline bench: whose event loop', () => {
  it('reports the worker and CLI apart from the processes that run one activity body (the LSTM’s)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fc-delays-'));
    const write = (pid: number, argv: string[], maxMs: number) =>
      writeFileSync(join(dir, `${pid}.json`), JSON.stringify({ pid, argv, maxMs }));
    write(1, ['/work/bin/funnelcast.js', 'run', '--pipeline', 'bench_10m_blend.json'], 310);
    write(2, ['/work/dist/activities/thread-entry.js'], 159_451);
    write(3, ['/work/dist/worker.js'], 120);
    // A 1m blend run reported the LSTM process's 159 s as the run's event-loop delay, the worker's being 0.3 s.
    assert.equal(loopDelay(dir, []).maxMs, 310);
    assert.match(loopDelay(dir, []).who, /funnelcast\.js run/);
    assert.equal(loopDelay(dir, [], true).maxMs, 159_451);
  });
});
