/**
 * Build step (`npm run build`, after tsc): the workflows' code bundle, so workers load it instead of running
 * webpack on their main thread at start (infra/workflow-bundle.ts).
 */
import { writeWorkflowBundle } from '../infra/workflow-bundle';

writeWorkflowBundle().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
