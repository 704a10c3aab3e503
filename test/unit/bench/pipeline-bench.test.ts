/**
 * The pipeline bench reads `funnelcast run --json`, which prints its summary indented over many lines: the bench
 * read only the last line ("}") and failed after the whole 1 M run (issue 17's headline was never written).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lastJsonObject } from '../../../bench/suites/pipeline';

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
