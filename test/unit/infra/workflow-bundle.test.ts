/**
 * The workflows' bundle (issue 17: webpack bundling the workflows at Worker.create blocked the `funnelcast run`
 * process's event loop for 1.3 s). A worker loads the bundle `npm run build` made when it matches the compiled
 * workflows, and otherwise bundles them on a worker thread, leaving its event loop free.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { projectRoot } from '../../../infra/root';
import {
  BUNDLE_FILE,
  bundleKey,
  WORKFLOWS_ENTRY,
  workflowBundleOption,
  writeWorkflowBundle,
} from '../../../infra/workflow-bundle';

/** Compiled workflows of our own (inside the project, so webpack finds the SDK): index → greet, plus a stranger. */
function fakeWorkflows() {
  const dir = mkdtempSync(join(projectRoot(), 'dist', 'test-bundle-'));
  writeFileSync(
    join(dir, 'index.js'),
    `"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\nexports.hello = void 0;\nconst workflow_1 = require("@temporalio/workflow");\nconst greet_1 = require("./greet");\nasync function hello() { await workflow_1.sleep(1); return (0, greet_1.greet)('you'); }\nexports.hello = hello;\n`,
  );
  writeFileSync(join(dir, 'greet.js'), `"use strict";\nexports.greet = (n) => 'hello ' + n;\n`);
  writeFileSync(join(dir, 'unrelated.js'), `"use strict";\nexports.x = 1;\n`);
  return { dir, entry: join(dir, 'index.js'), bundle: join(dir, 'bundle.js') };
}

describe('the workflow bundle', () => {
  it('is keyed by the compiled files the workflows reach, not by the others', () => {
    const w = fakeWorkflows();
    try {
      const before = bundleKey(w.entry);
      writeFileSync(join(w.dir, 'unrelated.js'), `"use strict";\nexports.x = 2;\n`);
      assert.equal(bundleKey(w.entry), before, 'a file the workflows do not require');
      writeFileSync(join(w.dir, 'greet.js'), `"use strict";\nexports.greet = (n) => 'hi ' + n;\n`);
      assert.notEqual(bundleKey(w.entry), before, 'a file the workflows require');
    } finally {
      rmSync(w.dir, { recursive: true, force: true });
    }
  });

  it('is loaded when it matches the compiled workflows, else made on a worker thread', async () => {
    const w = fakeWorkflows();
    try {
      const h = monitorEventLoopDelay({ resolution: 10 });
      h.enable();
      const made = await workflowBundleOption(w.entry, w.bundle);
      h.disable();
      assert.ok('code' in made.workflowBundle && made.workflowBundle.code.includes("'hello '"), 'bundled now');
      // On this thread webpack blocked the loop for over a second; on a worker thread the loop only waits.
      assert.ok(h.max / 1e6 < 500, `event loop blocked ${h.max / 1e6} ms while bundling`);

      await writeWorkflowBundle(w.entry, w.bundle);
      assert.deepEqual(await workflowBundleOption(w.entry, w.bundle), { workflowBundle: { codePath: w.bundle } });
      writeFileSync(join(w.dir, 'greet.js'), `"use strict";\nexports.greet = (n) => 'hi ' + n;\n`);
      const stale = await workflowBundleOption(w.entry, w.bundle);
      assert.ok(
        'code' in stale.workflowBundle && stale.workflowBundle.code.includes("'hi '"),
        'a stale one is not used',
      );
    } finally {
      rmSync(w.dir, { recursive: true, force: true });
    }
  });

  it('is built by `npm run build` for the compiled workflows', async () => {
    assert.deepEqual(await workflowBundleOption(), { workflowBundle: { codePath: BUNDLE_FILE } });
    assert.equal(WORKFLOWS_ENTRY, join(projectRoot(), 'dist', 'workflows', 'index.js'));
  });
});
